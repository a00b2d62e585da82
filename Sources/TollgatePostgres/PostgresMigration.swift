/// One schema change of the PostgreSQL store: a version name, applied once, and its statements, in order.
///
/// The tables are those of the SQLite store in PostgreSQL types: milliseconds and counts are BIGINT, token amounts
/// decimal TEXT exactly as in SQLite (a uint256 fits no floating-point or 64-bit type), bodies BYTEA.
public struct PostgresMigration: Sendable, Hashable {
    /// The name recorded in `tollgate_migrations`; never renamed once released.
    public var version: String
    /// One SQL statement each (the extended protocol runs one statement per query).
    public var statements: [String]

    public init(version: String, statements: [String]) {
        self.version = version
        self.statements = statements
    }
}
