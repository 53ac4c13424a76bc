/** The config module's public surface: loading, parsing, the schema and the shapes. */
export * from './types.js';
export {
  loadConfig,
  mergeConfigFiles,
  BUILTIN_LOCAL_CLUSTER,
  type LoadConfigOptions,
} from './load.js';
export { parseConfigText, type ParseConfigOptions, type ParsedConfigFile } from './parse.js';
export {
  expandHome,
  tildify,
  userConfigPath,
  SITE_CONFIG_DIR,
  CONFIG_ENV_VAR,
  type Environment,
} from './paths.js';
export { CLUSTERS_SCHEMA_PATH, clustersSchema } from './schema.js';
