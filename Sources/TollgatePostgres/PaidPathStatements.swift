import PostgresNIO
import TollgateCore

// The statements every paid request runs under the write lock, prepared once per connection (`PreparedWrite`).

/// The write lock of a group commit (`PostgresGroupCommitter`), held until its transaction ends.
struct WriteLockStatement: PreparedWrite {
    static let text = PreparedText { p in "SELECT pg_advisory_xact_lock(\(p(.int8)))" }
    let key: Int64

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(key)
        return bindings
    }
}

/// The hash events are chained to and the last seq used (`hash`, `seq`).
struct AuditHeadStatement: PreparedWrite {
    static let text = PreparedText { _ in
        """
        SELECT (SELECT hash FROM audit_event ORDER BY seq DESC LIMIT 1) AS hash,
               GREATEST((SELECT MAX(seq) FROM audit_event), (SELECT seq FROM audit_sequence WHERE id = 1), 0) AS seq
        """
    }

    func makeBindings() -> PostgresBindings { PostgresBindings() }
}

/// Audit events appended in one statement whatever their number: one array per column, unnested in order, and the
/// sequence raised to the last seq. PostgreSQL arrays sent by postgres-nio hold no NULL, so the six optional columns
/// are written as empty strings with a bit per column set in `absent`.
struct AuditInsertStatement: PreparedWrite {
    static let text = PreparedText { p in
        let columns = [p(.int8Array), p(.textArray), p(.int8Array), p(.textArray), p(.textArray), p(.textArray), p(.textArray), p(.textArray),
                       p(.textArray), p(.textArray), p(.textArray), p(.textArray), p(.textArray), p(.textArray), p(.int4Array)]
        let last = p(.int8)
        return """
            WITH appended AS (
                INSERT INTO audit_event (seq, correlation_id, time_ms, stage, outcome, reason, client_id, resource, details, prev_hash, hash,
                                         payer, nonce, tx)
                SELECT seq, correlation_id, time_ms, stage, outcome, CASE WHEN absent & 1 = 0 THEN reason END,
                       CASE WHEN absent & 2 = 0 THEN client_id END, CASE WHEN absent & 4 = 0 THEN resource END, details, prev_hash, hash,
                       CASE WHEN absent & 8 = 0 THEN payer END, CASE WHEN absent & 16 = 0 THEN nonce END, CASE WHEN absent & 32 = 0 THEN tx END
                FROM unnest(\(columns.joined(separator: ", ")))
                  AS e(seq, correlation_id, time_ms, stage, outcome, reason, client_id, resource, details, prev_hash, hash, payer, nonce, tx, absent)
            )
            UPDATE audit_sequence SET seq = GREATEST(seq, \(last)) WHERE id = 1
            """
    }

    private var seqs: [Int64] = [], times: [Int64] = [], absent: [Int32] = []
    private var correlationIds: [String] = [], stages: [String] = [], outcomes: [String] = [], reasons: [String] = []
    private var clientIds: [String] = [], resources: [String] = [], details: [String] = [], previousHashes: [String] = []
    private var hashes: [String] = [], payers: [String] = [], nonces: [String] = [], transactions: [String] = []

    init(capacity: Int) {
        seqs.reserveCapacity(capacity)
        times.reserveCapacity(capacity)
        absent.reserveCapacity(capacity)
    }

    mutating func append(_ prepared: AuditChain.Prepared, seq: Int64, previous: String, hash: String) {
        let event = prepared.event
        let lookup = event.lookupKeys
        var bits: Int32 = 0
        /// An optional column's value, "" with its bit set in `absent` when there is none.
        func optional(_ value: String?, bit: Int32) -> String {
            if value == nil { bits |= bit }
            return value ?? ""
        }
        seqs.append(seq)
        correlationIds.append(event.correlationId)
        times.append(event.timeMillis)
        stages.append(event.stage.rawValue)
        outcomes.append(event.outcome.rawValue)
        reasons.append(optional(event.reason, bit: 1))
        clientIds.append(optional(event.clientId, bit: 2))
        resources.append(optional(event.resource, bit: 4))
        details.append(prepared.detailsJSON)
        previousHashes.append(previous)
        hashes.append(hash)
        payers.append(optional(lookup.payer, bit: 8))
        nonces.append(optional(lookup.nonce, bit: 16))
        transactions.append(optional(lookup.transaction, bit: 32))
        absent.append(bits)
    }

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 16)
        bindings.append(seqs)
        bindings.append(correlationIds)
        bindings.append(times)
        for column in [stages, outcomes, reasons, clientIds, resources, details, previousHashes, hashes, payers, nonces, transactions] {
            bindings.append(column)
        }
        bindings.append(absent)
        bindings.append(seqs.last ?? 0)
        return bindings
    }
}

/// `reserve`: the claim and its evidence in one statement, the evidence kept only when the claim was taken (then it
/// returns one row).
struct ClaimStatement: PreparedWrite {
    static let text = PreparedText { p in
        let key = p.key()
        let correlationId = p(.text), clientId = p(.text), resource = p(.text), validBefore = p(.int8), now = p(.int8), owner = p(.text)
        let offerToken = p(.text), payload = p(.text)
        return """
            WITH claimed AS (
                INSERT INTO reservation (network, asset, payer, nonce, correlation_id, client_id, resource, valid_before, state, updated_at, owner,
                                         lease_at)
                VALUES (\(key.network), \(key.asset), \(key.payer), \(key.nonce), \(correlationId), \(clientId), \(resource), \(validBefore),
                        'reserved', \(now), \(owner), \(PostgresStore.databaseMillis))
                ON CONFLICT DO NOTHING RETURNING correlation_id, network, asset, payer, nonce
            )
            INSERT INTO proof_evidence (correlation_id, network, asset, payer, nonce, offer_token, payload, received_at)
            SELECT correlation_id, network, asset, payer, nonce, \(offerToken), \(payload), \(now) FROM claimed
            RETURNING 1
            """
    }

    let reservation: Reservation
    let now: Int64
    let owner: String

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 12)
        bindings.append(key: reservation.key)
        for text in [reservation.correlationId, reservation.clientId, reservation.resource] { bindings.append(text) }
        bindings.append(reservation.validBefore)
        bindings.append(now)
        bindings.append(owner)
        bindings.append(reservation.offerToken)
        bindings.append(reservation.payload)
        return bindings
    }
}

/// `recordSettlementIntent`: the intent, the answer prepared before settling (not ready) and the claim's move to
/// `settling`, by this instance (`owner`), which renews it from then on. Returns whether the intent is refused, when the
/// caller rolls everything back: there is no claim (released: its client was told nothing was charged), or the claim
/// is another instance's and more than a lapsed claim nobody settles (its lease younger than `grace`, or past `reserved`:
/// that instance may have sent `/settle`, and a second attempt here, told the authorization is used, would end the
/// payment as failed while it moved). A settled claim's intent (another attempt) changes neither its state nor its owner.
struct IntentStatement: PreparedWrite {
    static let text = PreparedText { p in
        let key = p.key()
        let correlationId = p(.text), intent = p(.text), createdAt = p(.int8), now = p(.int8), owner = p(.text), grace = p(.int8)
        let stored = p.responseUpsert(key)
        return """
            WITH intent AS (
                INSERT INTO settlement_intent (network, asset, payer, nonce, correlation_id, intent, created_at, updated_at)
                VALUES (\(key.network), \(key.asset), \(key.payer), \(key.nonce), \(correlationId), \(intent), \(createdAt), \(now))
                ON CONFLICT (network, asset, payer, nonce) DO UPDATE SET intent = excluded.intent, updated_at = excluded.updated_at
                WHERE settlement_intent.outcome = 'open'
            ), stored AS (
            \(stored)
            ), claim AS (
                UPDATE reservation SET state = 'settling', updated_at = \(now), lease_at = \(PostgresStore.databaseMillis), owner = \(owner)
                WHERE \(key.matches) AND state NOT IN ('settled', 'failed')
            )
            SELECT COALESCE((SELECT owner <> \(owner) AND (state <> 'reserved' OR lease_at > \(PostgresStore.databaseMillis) - \(grace))
                             FROM reservation WHERE \(key.matches)), TRUE)
            """
    }

    let intent: SettlementIntent
    /// The intent as stored (without its response, which has its own row).
    let json: String
    let now: Int64
    let owner: String
    let grace: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 18)
        bindings.append(key: intent.key)
        bindings.append(intent.correlationId)
        bindings.append(json)
        bindings.append(intent.createdAtMillis)
        bindings.append(now)
        bindings.append(owner)
        bindings.append(grace)
        try bindings.append(response: intent.response, ready: false)
        return bindings
    }
}

/// `finish` and `recordDelivery` (`PostgresStore.settleIntent`): the intent takes the outcome (unless it was closed:
/// refunded, under review; and a settled one never becomes failed, nor its claim failed or unknown: two instances may
/// resolve one settlement, and the one told "already used" by the other's success must not undo it), the claim its state (when
/// given), the flow's held spend its state (when given), and the answer, the ledger row and plain usage are kept (each
/// when given). Returns the claim's flow and the intent's outcome (as the statement left it).
struct SettleIntentStatement: PreparedWrite {
    static let text = PreparedText { p in
        let key = p.key()
        let outcome = p(.text), transaction = p(.text), delivery = p(.int8), now = p(.int8), state = p(.text), holds = p(.text)
        let stored = p.responseUpsert(key), paid = p.paymentInsert(), used = p.usageInsert()
        return """
            WITH intent AS (
                UPDATE settlement_intent SET outcome = CASE WHEN outcome IN ('refunded', 'review') THEN outcome
                                                            WHEN outcome = 'settled' AND \(outcome) = 'failed' THEN outcome
                                                            ELSE COALESCE(\(outcome), outcome) END,
                                             tx = COALESCE(NULLIF(\(transaction), ''), tx),
                                             delivered = delivered OR (\(delivery) IS NOT NULL),
                                             delivery = CASE WHEN \(delivery) IS NULL THEN delivery WHEN delivered THEN NULL ELSE \(delivery) END,
                                             updated_at = \(now)
                WHERE \(key.matches) RETURNING outcome
            ), claim AS (
                UPDATE reservation SET state = CASE WHEN state = 'settled' AND \(state) IN ('failed', 'unknown') THEN state ELSE COALESCE(\(state), state) END,
                                       updated_at = CASE WHEN \(state) IS NULL THEN updated_at ELSE \(now) END,
                                       lease_at = \(PostgresStore.databaseMillis)
                WHERE \(key.matches) RETURNING correlation_id
            ), holds AS (
                UPDATE spend_hold SET state = \(holds) WHERE \(holds) IS NOT NULL AND state = 'held'
                  AND correlation_id = (SELECT correlation_id FROM claim)
            ), stored AS (
            \(stored)
            ), paid AS (
            \(paid)
            ), used AS (
            \(used)
            )
            SELECT (SELECT correlation_id FROM claim), (SELECT outcome FROM intent)
            """
    }

    let key: ProofKey
    let outcome: String?
    let transaction: String?
    let delivery: DeliveryToken?
    let now: Int64
    let state: String?
    let holds: String?
    let also: PostgresStore.AlsoWritten

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 48)
        bindings.append(key: key)
        bindings.append(outcome)
        bindings.append(transaction)
        bindings.append(delivery?.value)
        bindings.append(now)
        bindings.append(state)
        bindings.append(holds)
        try bindings.append(response: also.response, ready: true)
        bindings.append(payment: also.payment)
        bindings.append(usage: also.usage)
        return bindings
    }
}

/// A usage row of a package purchase or a prepaid request (plain paid usage rides in `SettleIntentStatement`).
struct UsageInsertStatement: PreparedWrite {
    static let text = PreparedText { p in p.usageInsert() }
    let usage: UsageEvent

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 12)
        bindings.append(usage: usage)
        return bindings
    }
}
