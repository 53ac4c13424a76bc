/** Where the job templates are: HPC_JUPYTER_TEMPLATES, else the ones shipped with hpc-jupyter. */
import { BUILTIN_TEMPLATES_DIR } from '../templates/index.js';

export function templatesDir(env: NodeJS.ProcessEnv = process.env): string {
  const custom = env.HPC_JUPYTER_TEMPLATES;
  return custom !== undefined && custom !== '' ? custom : BUILTIN_TEMPLATES_DIR;
}
