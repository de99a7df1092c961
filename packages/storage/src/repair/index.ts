// The repair protocol core of WebCASStore (see README.md): a pure state
// machine per node that keeps every object at full redundancy under churn.
export { RepairCore, compareRecords } from './core.ts'
export * as repairDefaults from './constants.ts'
export { InvalidRepairInputError, MalformedRecordError, MalformedRepairMessageError, MalformedSnapshotError, RecordConflictError } from './errors.ts'
export { sharesOf, validateRecord, validateRepairMessage, validateSnapshot } from './validate.ts'
export type {
  DropEffect, Health, PersistEffect, PlacementRecord, RebuildEffect, RebuildFailedEffect, RebuildResult, RefusedEffect,
  RepairedEffect, RepairEffect, RepairInit, RepairMessage, RepairSnapshot, SendEffect, ShareSource, StatusEntry, StatusMessage,
  StorageMember, TimerEffect, UnrecoverableEffect
} from './types.ts'
