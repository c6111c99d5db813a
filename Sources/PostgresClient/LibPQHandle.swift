import CLibPQ

/// Owns one `PGconn` and finishes it exactly once.
///
/// `@unchecked Sendable` is safe because the only owner is a `PostgresConnection`
/// actor, which touches the handle from its own serial executor; `deinit` runs
/// when no one else can hold it. libpq allows a connection to be used from any
/// thread as long as no two threads use it at once.
final class LibPQHandle: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { PQfinish(pointer) }
}
