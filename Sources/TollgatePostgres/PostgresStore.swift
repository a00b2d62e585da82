import Foundation
import Logging
import PostgresNIO
import TollgateCore

/// The shared store: many gateway instances on one PostgreSQL, with every guarantee of one instance.
///
/// The same tables and the same transactions as the SQLite store (the conformance suite runs against both); what
/// differs is how instances are kept apart (`PostgresExecutor`: one writer at a time cluster-wide, bounded waits)
/// and what only a shared store needs (`exclusively` for the reconciler, `notifyControls` for revocations).
/// docs/architecture.md, "Many instances on PostgreSQL", says what is shared and what stays per instance.
public struct PostgresStore: GatewayStore {
    let database: PostgresExecutor
    /// The keys of the audit chain; every instance writing one database must use the same ones.
    public let auditKeys: KeyRing?
    /// The time written on rows (`updated_at`, `created_at`); Core's clock, replaceable in tests.
    let clock: any GatewayClock
    /// Claims whose lease (`lease_at`: written with the claim, renewed while its owner works on it, `renewClaims`) is younger
    /// than this, on the database's clock, belong to a live instance: a copy of the proof arriving here waits (`busy`)
    /// instead of taking the claim over, and a starting instance leaves them alone (`abandonSettling`).
    let settlingGraceMillis: Int64
    /// Names this process in the claims it writes (`reservation.owner`), new at every start.
    let instanceId: String

    init(database: PostgresExecutor, auditKeys: KeyRing?, clock: any GatewayClock, settlingGraceMillis: Int64,
         instanceId: String = UUID().uuidString.lowercased()) {
        self.database = database
        self.auditKeys = auditKeys
        self.clock = clock
        self.settlingGraceMillis = settlingGraceMillis
        self.instanceId = instanceId
    }

    /// Now on the database's clock, in milliseconds: what leases are written with and compared against, so that
    /// instances whose clocks disagree still agree on which claims are live.
    static let databaseMillis = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

    /// A third of the grace: a claim in flight is renewed about three times per grace period, so one renewal delayed
    /// by a slow database (the loader warns of a grace under six times `timeout_seconds`) does not lose it.
    public var claimRenewalInterval: Duration? {
        settlingGraceMillis > 0 ? .milliseconds(max(settlingGraceMillis / 3, 100)) : nil
    }

    public func renewClaims(_ keys: [ProofKey]) async throws {
        guard !keys.isEmpty else { return }
        // `updated_at` too: an instance of an earlier version, mid-upgrade, judges liveness by it.
        let me = instanceId, now = clock.nowMillis()
        let (networks, assets, payers, nonces) = (keys.map(\.network), keys.map(\.asset), keys.map(\.payer), keys.map(\.nonce))
        try await database.write { tx in
            try await tx.execute("""
                UPDATE reservation SET lease_at = \(unescaped: Self.databaseMillis), updated_at = \(now)
                WHERE owner = \(me) AND (network, asset, payer, nonce) IN
                      (SELECT * FROM unnest(\(networks)::text[], \(assets)::text[], \(payers)::text[], \(nonces)::text[]))
                """)
        }
    }

    public func health() -> StoreHealth {
        var health = database.monitor.health
        health.commits = database.committer.statistics
        return health
    }

    public var invalidProofCounter: (any InvalidProofCounter)? { self }

    public func exclusively<Value: Sendable>(_ name: String, _ body: @Sendable () async throws -> Value) async throws -> Value? {
        try await database.exclusively(name, body)
    }

    // MARK: claims

    public func reserve(_ reservation: Reservation, events: [AuditEvent]) async throws -> ReservationOutcome {
        let now = clock.nowMillis(), keys = auditKeys, me = instanceId, grace = settlingGraceMillis
        let events = events.map(AuditChain.Prepared.init)
        return try await database.write { tx in
            let key = reservation.key
            if let identifier = reservation.paymentIdentifier, let row = try await tx.row("""
                SELECT fingerprint, correlation_id FROM payment_identifier WHERE client_id = \(reservation.clientId) AND identifier = \(identifier)
                """), try reservation.conflictsWithIdentifier(recordedAs: row.get("fingerprint"), for: row.get("correlation_id")) {
                return .identifierConflict(correlationId: try row.get("correlation_id"))
            }
            // The claim and its evidence in one statement (one round trip under the write lock): the evidence is kept
            // only when the claim was taken.
            let inserted = try await tx.run(ClaimStatement(reservation: reservation, now: now, owner: me)).count
            guard inserted == 1 else {
                if let row = try await tx.row("""
                    SELECT correlation_id, state, owner, lease_at > \(unescaped: Self.databaseMillis) - \(grace) AS leased,
                           (SELECT outcome = 'settled' AND NOT delivered FROM settlement_intent WHERE \(row: key)) AS undelivered
                    FROM reservation WHERE \(row: key)
                    """) {
                    let first: String = try row.get("correlation_id"), owner: String = try row.get("owner")
                    let state = Reservation.State(rawValue: try row.get("state")) ?? .reserved
                    // Another instance's request is working on this claim (its in-flight lock is not ours to see): claimed
                    // or settling, or settled and not yet delivered (`settle: before` runs its upstream call then; a copy
                    // here would run the work again, or refund it while it runs).
                    let undelivered = try row.get("undelivered", as: Bool?.self) ?? false
                    let live = state.isLive(undeliveredSettlement: undelivered)
                    if owner != me, live, try row.get("leased", as: Bool.self) {
                        return .busy(correlationId: first)
                    }
                    // The same purchase left by an instance that stopped: this one carries it on (the journey takes the
                    // claim over or resumes its settlement), so it becomes the owner, and a copy at a third instance waits.
                    if owner != me, live, first == reservation.correlationId {
                        try await tx.execute("""
                            UPDATE reservation SET owner = \(me), updated_at = \(now), lease_at = \(unescaped: Self.databaseMillis) WHERE \(row: key)
                            """)
                    }
                    return .alreadyClaimed(correlationId: first, state: state)
                }
                let state = try await tx.value("SELECT state FROM reservation WHERE correlation_id = \(reservation.correlationId)", as: String.self)
                return .offerAlreadyUsed(state: state.flatMap(Reservation.State.init(rawValue:)) ?? .reserved)
            }
            if let identifier = reservation.paymentIdentifier {
                try await tx.execute("""
                    INSERT INTO payment_identifier (client_id, identifier, fingerprint, correlation_id, created_at)
                    VALUES (\(reservation.clientId), \(identifier), \(reservation.fingerprint), \(reservation.correlationId), \(now))
                    ON CONFLICT DO NOTHING
                    """)
            }
            try await Self.append(events, tx, keys: keys)
            return .reserved
        }
    }

    @discardableResult
    public func release(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool {
        let keys = auditKeys, me = instanceId
        let events = events.map(AuditChain.Prepared.init)
        return try await database.write { tx in
            // Only this instance's claim: one whose lease lapsed while this instance was held up (a pause longer than the
            // grace) may have been taken over by another, which may have sent `/settle` since; releasing it would lose
            // what that settlement moves.
            var heldElsewhere = false
            if let row = try await tx.row("SELECT correlation_id, owner FROM reservation WHERE \(row: key)") {
                if try row.get("owner", as: String.self) == me {
                    try await Self.endHolds(try row.get("correlation_id"), as: SpendHolds.afterRelease, tx)
                } else {
                    heldElsewhere = true
                }
            }
            // `settling` too: the gateway releases a settling claim only when no `/settle` was sent.
            let released = try await tx.count("""
                DELETE FROM reservation WHERE \(row: key) AND state IN \(unescaped: Self.sqlList(StoreRetention.releasableStates)) AND owner = \(me)
                RETURNING 1
                """)
            if released > 0 {
                try await tx.execute("DELETE FROM settlement_intent WHERE \(row: key) AND outcome = 'open'")
                try await tx.execute("DELETE FROM paid_response WHERE \(row: key) AND NOT ready")
            }
            try await Self.append(events, tx, keys: keys)
            return !heldElsewhere
        }
    }

    public func finish(_ key: ProofKey, state: Reservation.State, payment: PaymentRecord?, response: StoredResponse?,
                       metering: MeteringRecord?, delivery: DeliveryToken?, events: [AuditEvent]) async throws {
        let now = clock.nowMillis(), keys = auditKeys
        let events = events.map(AuditChain.Prepared.init)
        try await database.write { tx in
            try await Self.finish(key, state: state, payment: payment, response: response, metering: metering, delivery: delivery, events: events,
                                  now: now, keys: keys, tx)
        }
    }

    public func finishOwnClaim(_ key: ProofKey, state: Reservation.State, events: [AuditEvent]) async throws -> Bool {
        let now = clock.nowMillis(), keys = auditKeys, me = instanceId
        let events = events.map(AuditChain.Prepared.init)
        return try await database.write { tx in
            // Locked until this transaction ends: a takeover waits for this outcome, or this outcome for the takeover.
            let owner = try await tx.value("SELECT owner FROM reservation WHERE \(row: key) FOR UPDATE", as: String.self)
            guard owner == me else {
                try await Self.append(events, tx, keys: keys)
                return false
            }
            try await Self.finish(key, state: state, payment: nil, response: nil, metering: nil, delivery: nil, events: events, now: now, keys: keys, tx)
            return true
        }
    }

    public func takeClaim(_ key: ProofKey) async throws -> Bool {
        let me = instanceId, grace = settlingGraceMillis
        return try await database.write { tx in
            // Only the owner changes: a fresh lease would tell the other instances a request works on the claim, and a
            // retry there would wait out the grace instead of carrying the purchase on.
            try await tx.value("""
                WITH taken AS (
                    UPDATE reservation SET owner = \(me)
                    WHERE \(row: key) AND owner <> \(me) AND lease_at <= \(unescaped: Self.databaseMillis) - \(grace) RETURNING 1
                )
                SELECT EXISTS (SELECT 1 FROM taken)
                       OR NOT EXISTS (SELECT 1 FROM reservation WHERE \(row: key) AND owner <> \(me)
                                                                    AND lease_at > \(unescaped: Self.databaseMillis) - \(grace))
                """, as: Bool.self) ?? false
        }
    }

    public func isClaimLeasedElsewhere(_ key: ProofKey) async throws -> Bool {
        let me = instanceId, grace = settlingGraceMillis
        return try await database.read { tx in
            try await tx.value("""
                SELECT EXISTS (SELECT 1 FROM reservation WHERE \(row: key) AND owner <> \(me) AND owner <> ''
                                                          AND lease_at > \(unescaped: Self.databaseMillis) - \(grace))
                """, as: Bool.self) ?? false
        }
    }

    public func leaveClaim(_ key: ProofKey) async throws {
        let me = instanceId
        try await database.write { tx in
            // As a reopened delivery's: nobody's, its lease lapsed.
            try await tx.execute("UPDATE reservation SET owner = '', lease_at = 0 WHERE \(row: key) AND owner = \(me)")
        }
    }

    private static func finish(_ key: ProofKey, state: Reservation.State, payment: PaymentRecord?, response: StoredResponse?,
                               metering: MeteringRecord?, delivery: DeliveryToken?, events: [AuditChain.Prepared], now: Int64,
                               keys: KeyRing?, _ tx: PostgresTransaction) async throws {
        // Money may still move while the outcome is open: then the hold is kept. A hold that ends without giving
        // money back ends in the same statement as the claim; a released one gives its amount back to its bucket.
        // The answer, the ledger row and plain usage (no package bought) go in that statement too: one round trip
        // under the write lock instead of four. One authorization, one ledger row: a settlement recorded twice (two
        // resolutions racing) is recorded once.
        let holds = SpendHolds.afterFinish(state)
        var metering = state == .settled ? metering : nil
        let usage = payment != nil && metering?.grant == nil ? metering?.usage : nil
        if usage != nil { metering = nil }
        let (flow, outcome) = try await Self.settleIntent(key, state: state, transaction: payment?.transaction, delivery: delivery, now: now,
                                                     holds: holds == .released ? nil : holds,
                                                     with: .init(response: response, payment: payment, usage: usage), tx)
        // A delivery is not recorded for a payment refunded or put under review meanwhile: refused after the statement
        // ran (one round trip), it is undone with the rest of this write, and the journey does not serve it.
        if delivery != nil { try RefundPolicy.checkDeliverable(outcome) }
        if let flow, holds == .released { try await Self.endHolds(flow, as: .released, tx) }
        if let metering { try await Self.record(metering, now: now, tx) }
        try await Self.append(events, tx, keys: keys)
    }

    public func storedResponse(_ key: ProofKey, now unixSeconds: Int64) async throws -> StoredResponse? {
        try await database.read { tx in try await Self.storedResponse(key, readyOnly: true, now: unixSeconds, tx) }
    }

    public func purgeReservations(expiredBefore unixSeconds: Int64) async throws -> Int {
        // Claims go a bounded batch per transaction: after an outage there may be many, and every instance's writes wait
        // for the write lock meanwhile.
        let purged = try await StoreRetention.inBatches {
            let now = clock.nowMillis(), keys = auditKeys
            return try await database.write { tx in try await Self.purgeClaims(expiredBefore: unixSeconds, now: now, tx, keys: keys) }
        }
        try await database.write { tx in
            try await tx.execute("DELETE FROM paid_response WHERE expires_at < \(unixSeconds)")
            try await tx.execute("DELETE FROM payment_identifier WHERE created_at < \((unixSeconds - StoreRetention.paymentIdentifierSeconds) * 1000)")
            try await tx.execute("DELETE FROM invalid_proof_count WHERE window_start < \(unixSeconds - 3600)")
            // Resolved intents only (`StoreRetention.isResolved`): open, undelivered and review ones stay until they are resolved.
            try await tx.execute("""
                DELETE FROM settlement_intent WHERE updated_at < \(unixSeconds * 1000)
                  AND ((outcome = 'settled' AND delivered) OR outcome IN ('failed', 'refunded'))
                """)
        }
        return purged
    }

    /// Purges up to `StoreRetention.purgeBatch` expired claims. What a purged flow still holds goes back to its caps
    /// (only an abandoned `reserved` claim holds anything then: a failed one gave it back), with a `claim_lapsed` event.
    static func purgeClaims(expiredBefore unixSeconds: Int64, now: Int64, _ tx: PostgresTransaction, keys: KeyRing?) async throws -> Int {
        var lapsed: [AuditEvent] = [], purged = 0
        for claim in try await tx.rows("""
            DELETE FROM reservation WHERE (network, asset, payer, nonce) IN (
                SELECT network, asset, payer, nonce FROM reservation
                WHERE valid_before < \(unixSeconds) AND state IN \(unescaped: sqlList(StoreRetention.purgeableStates)) LIMIT \(StoreRetention.purgeBatch))
            RETURNING correlation_id, client_id, resource, state
            """) {
            let flow: String = try claim.get("correlation_id")
            try await endHolds(flow, as: .released, tx)
            if try claim.get("state", as: String.self) == Reservation.State.reserved.rawValue {
                lapsed.append(StoreRetention.lapsedClaimEvent(correlationId: flow, clientId: try claim.get("client_id"),
                                                              resource: try claim.get("resource"), atMillis: now))
            }
            purged += 1
        }
        try await append(lapsed, tx, keys: keys)
        return purged
    }

    public func payments(correlationId: String) async throws -> [PaymentRecord] {
        try await database.read { tx in
            try await tx.rows("SELECT * FROM payment WHERE correlation_id = \(correlationId) ORDER BY id").map(Self.payment)
        }
    }

    public func reservationState(_ key: ProofKey) async throws -> Reservation.State? {
        try await database.read { tx in
            try await tx.value("SELECT state FROM reservation WHERE \(row: key)", as: String.self)
                .flatMap(Reservation.State.init(rawValue:))
        }
    }

    // MARK: spend caps

    public func holdSpend(_ holds: [SpendHold], correlationId: String) async throws -> SpendHold? {
        guard !holds.isEmpty else { return nil }
        return try await database.write { tx in
            var totals: [SpendHolds.Bucket: TokenAmount] = [:]
            var counted: Set<SpendHolds.Bucket> = []
            for bucket in Set(holds.map(SpendHolds.Bucket.init)) {
                totals[bucket] = try await Self.spendTotal(bucket, tx)
                let state = try await tx.value("""
                    SELECT state FROM spend_hold WHERE correlation_id = \(correlationId) AND subject = \(bucket.subject) AND bucket = \(bucket.bucket)
                    """, as: String.self)
                if let state = state.flatMap(SpendHolds.State.init(rawValue:)), state.counts { counted.insert(bucket) }
            }
            switch SpendHolds.decide(holds, totals: totals, counted: counted) {
            case .exceeds(let hold):
                return hold
            case .hold(let writes):
                for write in writes {
                    try await Self.setSpendTotal(.init(write.hold), to: write.total, tx)
                    try await tx.execute("""
                        INSERT INTO spend_hold (correlation_id, subject, bucket, amount, state)
                        VALUES (\(correlationId), \(write.hold.subject), \(write.hold.bucket), \(write.hold.amount.atomic), \(SpendHolds.State.held.rawValue))
                        ON CONFLICT (correlation_id, subject, bucket) DO UPDATE SET amount = excluded.amount, state = excluded.state
                        """)
                }
                return nil
            }
        }
    }

    public func spendTotals(subject: String) async throws -> [String: String] {
        try await database.read { tx in
            var totals: [String: String] = [:]
            for row in try await tx.rows("SELECT bucket, total FROM spend_total WHERE subject = \(subject)") {
                totals[try row.get("bucket")] = try row.get("total")
            }
            return totals
        }
    }

    public func spendTotal(subject: String, bucket: String) async throws -> TokenAmount {
        try await database.read { tx in try await Self.spendTotal(.init(subject: subject, bucket: bucket), tx) }
    }

    static func spendTotal(_ bucket: SpendHolds.Bucket, _ tx: PostgresTransaction) async throws -> TokenAmount {
        try await tx.value("SELECT total FROM spend_total WHERE subject = \(bucket.subject) AND bucket = \(bucket.bucket)", as: String.self)
            .flatMap { TokenAmount(atomic: $0) } ?? .zero
    }

    static func setSpendTotal(_ bucket: SpendHolds.Bucket, to total: TokenAmount, _ tx: PostgresTransaction) async throws {
        try await tx.execute("""
            INSERT INTO spend_total (subject, bucket, total) VALUES (\(bucket.subject), \(bucket.bucket), \(total.atomic))
            ON CONFLICT (subject, bucket) DO UPDATE SET total = excluded.total
            """)
    }

    /// Moves the flow's `held` holds to `next`; a released hold gives its amount back to its bucket's total, and its
    /// row is deleted.
    static func endHolds(_ correlationId: String, as next: SpendHolds.State, _ tx: PostgresTransaction) async throws {
        if next == .released {
            for row in try await tx.rows("SELECT subject, bucket, amount FROM spend_hold WHERE correlation_id = \(correlationId) AND state = 'held'") {
                let bucket = SpendHolds.Bucket(subject: try row.get("subject"), bucket: try row.get("bucket"))
                let total = SpendHolds.released(try await spendTotal(bucket, tx), amount: TokenAmount(atomic: try row.get("amount", as: String.self)) ?? .zero)
                try await setSpendTotal(bucket, to: total, tx)
            }
        }
        if next == .released {
            // A released hold no longer counts anywhere: its row goes (holding for the flow again starts afresh).
            try await tx.execute("DELETE FROM spend_hold WHERE correlation_id = \(correlationId) AND state <> 'committed'")
        } else {
            try await tx.execute("UPDATE spend_hold SET state = \(next.rawValue) WHERE correlation_id = \(correlationId) AND state = 'held'")
        }
    }

    // MARK: responses

    static func storedResponse(_ key: ProofKey, readyOnly: Bool, now unixSeconds: Int64?, _ tx: PostgresTransaction) async throws -> StoredResponse? {
        guard let row = try await tx.row("""
            SELECT * FROM paid_response WHERE \(row: key) AND expires_at >= \(unixSeconds ?? Int64.min) AND (ready OR NOT \(readyOnly))
            """) else { return nil }
        let headers = (try? JSONDecoder().decode([[String]].self, from: Data(try row.get("headers", as: String.self).utf8))) ?? []
        return StoredResponse(correlationId: try row.get("correlation_id"), clientId: try row.get("client_id"), request: try row.get("request"),
                              status: try row.get("status"), headers: headers, body: Array(try row.get("body", as: Data.self)),
                              expiresAt: try row.get("expires_at"), paymentIdentifier: try row.get("payment_identifier"))
    }

    static func payment(_ row: PostgresRandomAccessRow) throws -> PaymentRecord {
        PaymentRecord(correlationId: try row.get("correlation_id"), rail: try row.get("rail"), network: try row.get("network"),
                      asset: try row.get("asset"), payer: try row.get("payer"), payee: try row.get("payee"), amount: try row.get("amount"),
                      nonce: try row.get("nonce"), transaction: try row.get("tx"), clientId: try row.get("client_id"),
                      resource: try row.get("resource"), unit: try row.get("unit"), quantity: try row.get("quantity"),
                      settledAtMillis: try row.get("settled_at"), bodySHA256: try row.get("body_sha256"))
    }

    // MARK: SQL helpers

    /// Writes to other tables that ride in `SettleIntentStatement` (a `WITH` each): fewer round trips while the write
    /// lock is held. PostgreSQL runs every data-modifying `WITH` once, to completion, whether or not the statement reads
    /// it; none of these reads what another writes.
    struct AlsoWritten {
        /// The answer to keep for the proof, ready to be served.
        var response: StoredResponse?
        /// The ledger row (kept once per authorization) and plain usage (kept once per flow).
        var payment: PaymentRecord?
        var usage: UsageEvent?
    }

    /// `('a', 'b')` for an SQL `IN`: states are fixed identifiers, never client input.
    static func sqlList(_ states: Set<Reservation.State>) -> String {
        "(" + states.map { "'\($0.rawValue)'" }.sorted().joined(separator: ", ") + ")"
    }
}

extension PostgresQuery.StringInterpolation {
    /// `network = $n AND asset = $n+1 AND payer = … AND nonce = …`: one proof's row, its key bound as parameters.
    /// `table` qualifies the columns (`i.network`) in a join.
    mutating func appendInterpolation(row key: ProofKey, table: String = "") {
        let prefix = table.isEmpty ? "" : table + "."
        appendLiteral("\(prefix)network = ")
        appendInterpolation(key.network)
        appendLiteral(" AND \(prefix)asset = ")
        appendInterpolation(key.asset)
        appendLiteral(" AND \(prefix)payer = ")
        appendInterpolation(key.payer)
        appendLiteral(" AND \(prefix)nonce = ")
        appendInterpolation(key.nonce)
    }
}

extension PostgresStore: InvalidProofCounter {
    /// One autocommit statement, outside the write lock: the shared budget is a counter, not part of the audit chain,
    /// and a flood of invalid proofs must not queue behind paid writes.
    public func countInvalidProof(keys: [String], windowStart: Int64) async throws -> Int {
        try await database.read { tx in
            Int(try await tx.values("""
                INSERT INTO invalid_proof_count (key, window_start, count) SELECT DISTINCT k, \(windowStart), 1 FROM unnest(\(keys)::text[]) AS k
                ON CONFLICT (key, window_start) DO UPDATE SET count = invalid_proof_count.count + 1
                RETURNING count
                """, as: Int64.self).max() ?? 0)
        }
    }
}
