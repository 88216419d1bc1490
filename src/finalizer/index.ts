/** The partition finalizer (see finalizer.ts) and its parts, for library users. */
export { Finalizer, type FinalizerOptions, type FinalizeReport, type TopicFinalization } from './finalizer.js'
export { LateDataMonitor, type LateData, type LateDataOptions } from './late-data.js'
export { InRunFinalizer, type InRunFinalizerOptions } from './in-run.js'
export { PeriodCalendar, finalizerTemplateProblem, hivePartitionValues, type Period } from './periods.js'
export { completeness, partitionProgress, type Completeness, type PartitionProgress } from './progress.js'
export { MARKER_NAME, markerKey } from './markers.js'
export {
  CatalogError, GlueCatalog, HiveCatalog, QuboleCatalog, alterTableStatement, createCatalog, locationOf, noCatalog, tableName,
  type Catalog, type CatalogPartition
} from './catalogs/index.js'
