/** The sidebar's icon: three stacked nodes, drawn in the theme's icon colour. */
import { LabIcon } from '@jupyterlab/ui-components';

const SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161">
<rect x="3" y="3" width="18" height="5" rx="1"/><rect x="3" y="10" width="18" height="5" rx="1"/>
<rect x="3" y="17" width="18" height="4" rx="1"/></g>
<g class="jp-icon-accent0" fill="#fff"><circle cx="7" cy="5.5" r="1"/><circle cx="7" cy="12.5" r="1"/>
<circle cx="7" cy="19" r="1"/></g></svg>`;

export const hpcIcon = new LabIcon({ name: 'hpc-jupyter:hpc', svgstr: SVG });
