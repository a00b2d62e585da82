import Foundation
import GRDB
import TollgateCore

/// Opens the embedded store: the one way the rest of Tollgate gets a SQLite store.
public enum SQLiteStores {
    /// Opens (creating if needed) the database at `path` and migrates it.
    /// - Parameter auditKeys: the audit chain keys; every writer of one database must use the same ones.
    /// - Parameter durable: false syncs commits in NORMAL mode (a commit survives a crash of the process but
    ///   may be lost on power loss): for measuring the cost of durability, never for money in production.
    public static func open(path: String, auditKeys: KeyRing? = nil, durable: Bool = true) throws -> any GatewayStore {
        try SQLiteStore(path: path, auditKeys: auditKeys, durable: durable)
    }
}

/// The embedded store: SQLite in WAL mode through GRDB. Nothing to install, safe for one gateway
/// process (several processes on one host may share the file; several hosts need PostgreSQL).
public struct SQLiteStore: GatewayStore {
    let writer: DatabasePool
    /// Every write goes through it: one durable commit for many concurrent writes.
    let committer: GroupCommitter
    /// The keys of the audit chain (`KeyRing.auditKeys()`); nil writes the unkeyed chain of earlier versions.
    public let auditKeys: KeyRing?
    /// The time written on rows (`updated_at`, `created_at`); Core's clock, replaceable in tests.
    let clock: any GatewayClock
    /// The write-ahead log, synced before an audit head is read from it (`auditHead()`); nil when commits are not durable.
    let walPath: String?

    /// Opens (creating if needed) the database at `path` and migrates it.
    /// - Parameter auditKeys: the audit chain keys; every writer of one database must use the same ones.
    /// - Parameter durable: false syncs commits in NORMAL mode (a commit survives a crash of the process but
    ///   may be lost on power loss): for measuring the cost of durability, never for money in production.
    public init(path: String, auditKeys: KeyRing? = nil, durable: Bool = true, clock: any GatewayClock = SystemClock()) throws {
        self.auditKeys = auditKeys
        self.clock = clock
        walPath = durable ? path + "-wal" : nil
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try WALCoalescing.install()
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        // Savepoint journals (a savepoint per write of a group commit that runs again after a failed write) in memory, not
        // in a temporary file: when every write had one, that file was half of the bytes a paid request wrote.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA temp_store = MEMORY") }
        writer = try DatabasePool(path: path, configuration: configuration)
        // Checkpoints every 10,000 WAL pages (about 40 MiB) rather than SQLite's 1,000: a page rewritten by many commits
        // is copied into the database once per checkpoint, and at 1,000 checkpoints were a third of the bytes written.
        // The WAL file is kept at most 64 MiB once checkpointed. The writer keeps up to 32 MiB of pages (SQLite's
        // default is 2 MiB): each paid request adds entries under random keys to about ten indexes, and with the small
        // cache their leaves were read back from the files (13 reads per paid request, 6 with this cache).
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 10000")
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
            try db.execute(sql: "PRAGMA cache_size = -32768")
        }
        // WAL + FULL: a commit is synced before it returns, so it survives power loss too (a batch of writes that asked for
        // no sync of their own commits in NORMAL: `GroupCommitter.write(synced:)`). The cost is one
        // sync per transaction, which the group committer shares among concurrent writes. (Set on the writer
        // connection after GRDB's own WAL set-up, which chooses NORMAL.)
        try writer.writeWithoutTransaction { db in try db.execute(sql: durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL") }
        committer = GroupCommitter(writer: writer, durable: durable)
        // A database a newer version migrated has tables this one would write wrongly (a row without a column the
        // newer version's lookups need): refused, never half-used.
        let unknown = try writer.read { db in try Self.migrator.appliedIdentifiers(db).subtracting(Self.migrator.migrations) }
        guard unknown.isEmpty else {
            throw TollgateError(.storeUnavailable, """
                \(path) was migrated by a newer version of Tollgate (migrations \(unknown.sorted().joined(separator: ", "))): run that \
                version or a later one
                """)
        }
        try Self.migrator.migrate(writer)
    }

    public func reserve(_ reservation: Reservation, events: [AuditEvent]) async throws -> ReservationOutcome {
        let events = events.map(AuditChain.Prepared.init)
        return try await write(synced: false) { db in
            let key = reservation.key
            let now = clock.nowMillis()
            if let identifier = reservation.paymentIdentifier, let row = try Row.fetchOne(cached: db, sql: """
                SELECT fingerprint, correlation_id FROM payment_identifier WHERE client_id = ? AND identifier = ?
                """, arguments: [reservation.clientId, identifier]),
               reservation.conflictsWithIdentifier(recordedAs: row["fingerprint"], for: row["correlation_id"]) {
                return .identifierConflict(correlationId: row["correlation_id"])
            }
            let proofKey = try Self.proofKeyId(key, db)
            try db.runRaw(sql: """
                INSERT INTO reservation (proof_key_id, network, asset, payer, nonce, correlation_id, client_id, resource, valid_before, state,
                                         updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'reserved', ?) ON CONFLICT DO NOTHING
                """, proofKey.id, key.network, key.asset, key.payer, key.nonce, reservation.correlationId, reservation.clientId,
                          reservation.resource, reservation.validBefore, now)
            guard db.changesCount == 1 else {
                if let row = try Row.fetchOne(cached: db, sql: "SELECT correlation_id, state FROM reservation WHERE proof_key_id = ?",
                                              arguments: [proofKey.id]) {
                    return .alreadyClaimed(correlationId: row["correlation_id"], state: Reservation.State(rawValue: row["state"]) ?? .reserved)
                }
                // The offer was claimed with another authorization: this one claimed nothing and leaves no row.
                if proofKey.added { try db.runRaw(sql: "DELETE FROM proof_key WHERE id = ?", proofKey.id) }
                let state = try String.fetchOne(cached: db, sql: "SELECT state FROM reservation WHERE correlation_id = ?",
                                                arguments: [reservation.correlationId])
                return .offerAlreadyUsed(state: state.flatMap(Reservation.State.init(rawValue:)) ?? .reserved)
            }
            if let identifier = reservation.paymentIdentifier {
                try db.run(sql: """
                    INSERT OR IGNORE INTO payment_identifier (client_id, identifier, fingerprint, correlation_id, created_at)
                    VALUES (?, ?, ?, ?, ?)
                    """, arguments: [reservation.clientId, identifier, reservation.fingerprint, reservation.correlationId, now])
            }
            try db.runRaw(sql: """
                INSERT INTO proof_evidence (proof_key_id, correlation_id, network, asset, payer, nonce, offer_token, payload, received_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, proofKey.id, reservation.correlationId, key.network, key.asset, key.payer, key.nonce, reservation.offerToken,
                          reservation.payload, now)
            try Self.append(events, db, keys: auditKeys,
                            indexedElsewhere: .init(correlationId: reservation.correlationId, payer: key.payer, nonce: key.nonce))
            return .reserved
        }
    }

    /// One process uses the store: never held elsewhere.
    @discardableResult
    public func release(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool {
        let events = events.map(AuditChain.Prepared.init)
        try await write { db in
            // An authorization never recorded has no claim, intent or answer to release.
            if let flowKey = try Self.recordedProofKeyId(key, db) {
                if let flow = try Self.reservationFlow(flowKey, db) { try Self.endHolds(flow, as: SpendHolds.afterRelease, db) }
                // `settling` too: the gateway releases a settling claim only when no `/settle` was sent.
                try db.runRaw(sql: """
                    DELETE FROM reservation WHERE proof_key_id = ? AND state IN \(Self.sqlList(StoreRetention.releasableStates))
                    """, flowKey)
                if db.changesCount > 0 {
                    try db.runRaw(sql: "DELETE FROM settlement_intent WHERE proof_key_id = ? AND outcome = 'open'", flowKey)
                    try db.runRaw(sql: "DELETE FROM paid_response WHERE proof_key_id = ? AND ready = 0", flowKey)
                }
            }
            try Self.append(events, db, keys: auditKeys)
        }
        return true
    }

    public func finish(_ key: ProofKey, state: Reservation.State, payment: PaymentRecord?, response: StoredResponse?,
                       metering: MeteringRecord?, delivery: DeliveryToken?, events: [AuditEvent]) async throws {
        let events = events.map(AuditChain.Prepared.init)
        try await write { db in
            let now = clock.nowMillis()
            // The flow's authorization, looked up once for every statement of this write. Without an answer or a ledger
            // row to keep, one never recorded stays unrecorded: it has no claim, intent or answer to update.
            let flowKey = response == nil && payment == nil ? try Self.recordedProofKeyId(key, db) : try Self.flowProofKeyId(key, db)
            if let flowKey {
                if let response { try Self.storeResponse(response, key: key, proofKeyId: flowKey, ready: true, db) }
                let outcome = try Self.settleIntent(flowKey, state: state, transaction: payment?.transaction, delivery: delivery, now: now, db)
                // A delivery is not recorded for a payment refunded or put under review meanwhile (another instance's retry
                // lost its answer and refunded it, an operator): refused after the statement ran, the whole write is undone
                // and the journey does not serve it.
                if delivery != nil { try RefundPolicy.checkDeliverable(outcome) }
                // A settled claim is never undone (failed, unknown) by a resolution that lost a race to another's success.
                try db.runRaw(sql: """
                    UPDATE reservation SET state = CASE WHEN state = 'settled' AND ? IN ('failed', 'unknown') THEN state ELSE ? END, updated_at = ?
                    WHERE proof_key_id = ?
                    """, state.rawValue, state.rawValue, now, flowKey)
                // Money may still move while the outcome is open: then the hold is kept.
                if let flow = try Self.reservationFlow(flowKey, db), let next = SpendHolds.afterFinish(state) { try Self.endHolds(flow, as: next, db) }
            }
            // One authorization, one ledger row: a settlement recorded twice (two resolutions racing) is recorded once.
            var ledgerRow = IndexedElsewhere.nothing
            if let payment, let flowKey {
                // The ledger row's own authorization, as the record spells it (the flow's key, unless a caller says otherwise).
                let spelledAsTheFlow = payment.network == key.network && payment.asset == key.asset && payment.payer == key.payer
                    && payment.nonce == key.nonce
                let paymentKey = spelledAsTheFlow
                    ? flowKey : try Self.proofKeyId(network: payment.network, asset: payment.asset, payer: payment.payer, nonce: payment.nonce, db).id
                try db.runRaw(sql: """
                    INSERT INTO payment (proof_key_id, correlation_id, rail, network, asset, payer, payee, amount, nonce, tx, client_id, resource,
                                         unit, quantity, settled_at, body_sha256)
                    SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
                    WHERE NOT EXISTS (SELECT 1 FROM payment WHERE proof_key_id = ?)
                    """, paymentKey, payment.correlationId, payment.rail, payment.network, payment.asset, payment.payer, payment.payee,
                              payment.amount, payment.nonce, payment.transaction, payment.clientId, payment.resource,
                              payment.unit, payment.quantity, payment.settledAtMillis, payment.bodySHA256, paymentKey)
                // Only a lowercase transaction: the ledger keeps the facilitator's spelling and a trace matches it as given or
                // lowercased, while the event's column matches any spelling (`hits(_:)`).
                if db.changesCount == 1, payment.transaction == payment.transaction.lowercased() {
                    ledgerRow = .init(correlationId: payment.correlationId, transaction: payment.transaction)
                }
            }
            if let metering, state == .settled { try Self.record(metering, now: now, db) }
            try Self.append(events, db, keys: auditKeys, indexedElsewhere: ledgerRow)
        }
    }

    public func holdSpend(_ holds: [SpendHold], correlationId: String) async throws -> SpendHold? {
        guard !holds.isEmpty else { return nil }
        // Like the reservation, made durable by the flow's synced settlement intent before any money moves.
        return try await write(synced: false) { db in
            var totals: [SpendHolds.Bucket: TokenAmount] = [:]
            var counted: Set<SpendHolds.Bucket> = []
            for bucket in Set(holds.map(SpendHolds.Bucket.init)) {
                totals[bucket] = try Self.spendTotal(bucket, db)
                let state = try String.fetchOne(cached: db, sql: "SELECT state FROM spend_hold WHERE correlation_id = ? AND subject = ? AND bucket = ?",
                                                arguments: [correlationId, bucket.subject, bucket.bucket])
                if let state = state.flatMap(SpendHolds.State.init(rawValue:)), state.counts { counted.insert(bucket) }
            }
            switch SpendHolds.decide(holds, totals: totals, counted: counted) {
            case .exceeds(let hold):
                return hold
            case .hold(let writes):
                for write in writes {
                    try db.run(sql: "INSERT OR REPLACE INTO spend_total (subject, bucket, total) VALUES (?, ?, ?)",
                                   arguments: [write.hold.subject, write.hold.bucket, write.total.atomic])
                    try db.run(sql: "INSERT OR REPLACE INTO spend_hold (correlation_id, subject, bucket, amount, state) VALUES (?, ?, ?, ?, ?)",
                                   arguments: [correlationId, write.hold.subject, write.hold.bucket, write.hold.amount.atomic,
                                               SpendHolds.State.held.rawValue])
                }
                return nil
            }
        }
    }

    static func spendTotal(_ bucket: SpendHolds.Bucket, _ db: Database) throws -> TokenAmount {
        try String.fetchOne(cached: db, sql: "SELECT total FROM spend_total WHERE subject = ? AND bucket = ?", arguments: [bucket.subject, bucket.bucket])
            .flatMap { TokenAmount(atomic: $0) } ?? .zero
    }

    public func spendTotals(subject: String) async throws -> [String: String] {
        try await writer.read { db in
            Dictionary(try Row.fetchAll(cached: db, sql: "SELECT bucket, total FROM spend_total WHERE subject = ?", arguments: [subject])
                .map { ($0["bucket"] as String, $0["total"] as String) }) { first, _ in first }
        }
    }

    public func spendTotal(subject: String, bucket: String) async throws -> TokenAmount {
        try await writer.read { db in try Self.spendTotal(.init(subject: subject, bucket: bucket), db) }
    }

    /// An embedded file is always there to answer; its failures (disk full) surface on the operations themselves.
    public func health() -> StoreHealth { StoreHealth(backend: "sqlite", commits: committer.statistics) }

    /// One instance per file: nothing to share.
    public var invalidProofCounter: (any InvalidProofCounter)? { nil }

    /// One host: the processes sharing a file are one instance's restarts, so every job runs.
    public func exclusively<Value: Sendable>(_ name: String, _ body: @Sendable () async throws -> Value) async throws -> Value? {
        try await LocalJobs().exclusively(name, body)
    }

    /// A write transaction, group-committed with the other writes in flight.
    func write<T: Sendable>(synced: Bool = true, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await committer.write(synced: synced, body)
    }

    static func reservationFlow(_ proofKeyId: Int64, _ db: Database) throws -> String? {
        try db.firstRaw(sql: "SELECT correlation_id FROM reservation WHERE proof_key_id = ?", proofKeyId) { RawStatement.text($0, 0) } ?? nil
    }

    /// Moves the flow's `held` holds to `next`; a released hold gives its amount back to its bucket's total, and its
    /// row is deleted.
    static func endHolds(_ correlationId: String, as next: SpendHolds.State, _ db: Database) throws {
        if next == .released {
            let held = try Row.fetchAll(cached: db, sql: "SELECT subject, bucket, amount FROM spend_hold WHERE correlation_id = ? AND state = 'held'",
                                        arguments: [correlationId])
            for row in held {
                let bucket = SpendHolds.Bucket(subject: row["subject"], bucket: row["bucket"])
                let total = SpendHolds.released(try spendTotal(bucket, db), amount: TokenAmount(atomic: row["amount"] as String) ?? .zero)
                try db.run(sql: "UPDATE spend_total SET total = ? WHERE subject = ? AND bucket = ?",
                               arguments: [total.atomic, bucket.subject, bucket.bucket])
            }
        }
        if next == .released {
            // A released hold no longer counts anywhere: its row goes (holding for the flow again starts afresh).
            try db.execute(sql: "DELETE FROM spend_hold WHERE correlation_id = ? AND state <> 'committed'", arguments: [correlationId])
        } else {
            try db.runRaw(sql: "UPDATE spend_hold SET state = ? WHERE correlation_id = ? AND state = 'held'", next.rawValue, correlationId)
        }
    }

    public func append(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        let events = events.map(AuditChain.Prepared.init)
        try await write { db in try Self.append(events, db, keys: auditKeys) }
    }

    public func events(correlationId: String) async throws -> [RecordedAuditEvent] {
        try await writer.read { db in
            try Row.fetchAll(cached: db, sql: "SELECT * FROM audit_event WHERE correlation_id = ? ORDER BY time_ms, seq", arguments: [correlationId])
                .map(Self.recorded)
        }
    }

    public func payments(correlationId: String) async throws -> [PaymentRecord] {
        try await writer.read { db in
            try Row.fetchAll(cached: db, sql: "SELECT * FROM payment WHERE correlation_id = ? ORDER BY id", arguments: [correlationId]).map(Self.payment)
        }
    }

    public func reservationState(_ key: ProofKey) async throws -> Reservation.State? {
        try await writer.read { db in
            try String.fetchOne(cached: db, sql: "SELECT state FROM reservation WHERE \(Self.byProofKey)",
                                arguments: [key.network, key.asset, key.payer, key.nonce]).flatMap(Reservation.State.init(rawValue:))
        }
    }

    // MARK: audit chain

    /// Lookup keys a row written in the same transaction already indexes for ever (a claim's `proof_evidence` row, through
    /// its `proof_key`: payer and nonce; a settlement's `payment` row: its transaction). Events naming exactly these leave their lookup columns empty:
    /// each column entry was one more leaf under a random key in every paid request's commit, and `flows(matching:)`
    /// still finds those events through the row (`hits(_:)`), so a trace reports what it reported before.
    struct IndexedElsewhere {
        /// The flow of that row: only its own events are covered.
        var correlationId: String? = nil
        var payer: String? = nil
        var nonce: String? = nil
        var transaction: String? = nil

        static let nothing = IndexedElsewhere()
    }

    /// Appends events prepared inside the write (writes off the paid path).
    static func append(_ events: [AuditEvent], _ db: Database, keys: KeyRing?, indexedElsewhere elsewhere: IndexedElsewhere = .nothing) throws {
        try append(events.map(AuditChain.Prepared.init), db, keys: keys, indexedElsewhere: elsewhere)
    }

    /// Appends to the chain. With `keys` (the audit keys) each hash is keyed and covers the event's seq, which is
    /// therefore assigned here: one past the highest ever used (`sqlite_sequence`), so a deleted tail is never reused.
    /// `elsewhere`: lookup keys the same transaction's rows already index (those events leave their columns empty).
    /// The paid path's writes prepare their events before the write, on the caller's thread: the one writer then only
    /// hashes and inserts.
    static func append(_ events: [AuditChain.Prepared], _ db: Database, keys: KeyRing?,
                       indexedElsewhere elsewhere: IndexedElsewhere = .nothing) throws {
        guard !events.isEmpty else { return }
        // The chain's head in one read: the last hash, and the highest seq ever used (`sqlite_sequence` keeps it
        // when the tail was archived away).
        let head = try db.firstRaw(sql: """
            SELECT (SELECT hash FROM audit_event ORDER BY seq DESC LIMIT 1) AS hash,
                   max(coalesce((SELECT MAX(seq) FROM audit_event), 0),
                       coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'audit_event'), 0)) AS seq
            """) { (hash: RawStatement.text($0, 0), seq: RawStatement.int64($0, 1)) }
        var previous = head?.hash ?? AuditChain.genesis
        var seq = head?.seq ?? 0
        var start = events.startIndex
        while start < events.endIndex {
            let rows = events[start..<min(start + auditRowsPerInsert, events.endIndex)]
            var insert = RawStatement(try db.cachedStatement(sql: auditInsert[rows.count]))
            for prepared in rows {
                seq += 1
                let event = prepared.event
                let hash = prepared.hash(previous: previous, seq: seq, keys: keys)
                let lookup = event.lookupKeys
                let covered = event.correlationId == elsewhere.correlationId ? elsewhere : .nothing
                insert.bind(values: seq, event.correlationId, event.timeMillis, event.stage.rawValue, event.outcome.rawValue,
                                    event.reason, event.clientId, event.resource, prepared.detailsJSON, previous, hash,
                                    lookup.payer == covered.payer ? nil : lookup.payer, lookup.nonce == covered.nonce ? nil : lookup.nonce,
                                    lookup.transaction == covered.transaction ? nil : lookup.transaction)
                previous = hash
            }
            try insert.execute(db)
            start = rows.endIndex
        }
    }

    /// Events per `INSERT`: a statement's own work (its cursors on the table and its four indexes, `AUTOINCREMENT`'s
    /// read and write of `sqlite_sequence`, the step itself) is shared by the events of one write (three or four per
    /// paid request's write, a batch of 402s' offers at once). Measured: a tenth of the audit insert's cost (0.7 % of a
    /// paid request's CPU); the rows' own B-tree work is the rest.
    static let auditRowsPerInsert = 16

    /// The audit insert with 1…`auditRowsPerInsert` rows (index 0 unused), each text cached once per connection.
    static let auditInsert: [String] = (0...auditRowsPerInsert).map { rows in
        """
        INSERT INTO audit_event (seq, correlation_id, time_ms, stage, outcome, reason, client_id, resource, details, prev_hash, hash,
                                 payer, nonce, tx)
        VALUES \(Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", "))
        """
    }

    static func recorded(_ row: Row) -> RecordedAuditEvent {
        let details = AuditEvent.details(fromJSON: row["details"])
        let event = AuditEvent(correlationId: row["correlation_id"], timeMillis: row["time_ms"],
                               stage: .init(row["stage"]), outcome: AuditEvent.Outcome(rawValue: row["outcome"]) ?? .error,
                               reason: row["reason"], clientId: row["client_id"], resource: row["resource"], details: details)
        return RecordedAuditEvent(seq: row["seq"], event: event, previousHash: row["prev_hash"], hash: row["hash"])
    }

    /// `('a', 'b')` for an SQL `IN`: states are fixed identifiers, never client input.
    static func sqlList(_ states: Set<Reservation.State>) -> String {
        "(" + states.map { "'\($0.rawValue)'" }.sorted().joined(separator: ", ") + ")"
    }
}
