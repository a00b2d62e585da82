import GRDB

/// The store's statements through GRDB's per-connection statement cache: each SQL text is parsed and planned once per
/// connection, then reused, instead of once per request (parsing was a visible share of a paid request's CPU).
/// Only for fixed SQL texts (the cache keeps one statement per distinct text); one statement per text.
extension Database {
    func run(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }

    /// Runs `body` in an immediate transaction, committed when it returns `.commit` and rolled back when it returns
    /// `.rollback` or throws, like GRDB's `inTransaction(.immediate)`, with its `BEGIN`, `COMMIT` and `ROLLBACK` from the
    /// cache: `inTransaction` parses them anew at each call, and every group commit is one transaction. A commit that
    /// fails is rolled back and its error rethrown. When SQLite ended the transaction itself on the way (a full disk, an
    /// I/O error), nothing commits and `SQLITE_ABORT` is thrown: GRDB's own check of an aborted transaction block does not
    /// apply here, so `inCachedSavepoint` and this method make it.
    func inCachedTransaction(_ body: () throws -> TransactionCompletion) throws {
        try run(sql: "BEGIN IMMEDIATE TRANSACTION")
        var failure: (any Error)?
        do {
            switch try body() {
            case .commit:
                guard isInsideTransaction else { throw Self.abortedTransaction }
                try run(sql: "COMMIT TRANSACTION")
                return
            case .rollback:
                break
            }
        } catch {
            failure = error
        }
        // SQLite may have rolled the transaction back itself (a full disk, an interrupt): then there is nothing to end.
        if isInsideTransaction {
            do { try run(sql: "ROLLBACK TRANSACTION") } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
    }

    /// Runs `body` in a savepoint of the open transaction, its statements from the cache: on error the savepoint is
    /// rolled back and the error rethrown, the transaction stays open. GRDB's `inSavepoint` parses its `SAVEPOINT`
    /// and `RELEASE` anew at each call, which was most of the SQL parsing of a paid request (each group-committed
    /// write has its savepoint). Without an open transaction (SQLite ended the batch's after an earlier write failed)
    /// it throws `SQLITE_ABORT` and runs nothing: on its own, the write would commit while its batch fails.
    func inCachedSavepoint(_ body: () throws -> Void) throws {
        guard isInsideTransaction else { throw Self.abortedTransaction }
        try run(sql: "SAVEPOINT tollgate_write")
        do {
            try body()
            try run(sql: "RELEASE SAVEPOINT tollgate_write")
        } catch {
            // Rolling back to a savepoint keeps it on SQLite's stack: it is released too. Should either fail (the
            // transaction was aborted), the commit fails as well and answers every write of the batch.
            try? run(sql: "ROLLBACK TRANSACTION TO SAVEPOINT tollgate_write")
            try? run(sql: "RELEASE SAVEPOINT tollgate_write")
            throw error
        }
    }

    /// What GRDB throws for a statement in a transaction block SQLite has already ended.
    static var abortedTransaction: DatabaseError {
        DatabaseError(resultCode: .SQLITE_ABORT, message: "Transaction was aborted")
    }
}

extension Row {
    static func fetchOne(cached db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> Row? {
        try fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }

    static func fetchAll(cached db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        try fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
    }
}

extension DatabaseValueConvertible where Self: StatementColumnConvertible {
    static func fetchOne(cached db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> Self? {
        try fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }
}
