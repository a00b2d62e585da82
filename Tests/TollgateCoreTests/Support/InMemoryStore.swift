import TollgateCore

/// A `TollgateStore` in memory, with the uniqueness rules of `SQLiteStore`: one claim per proof key and
/// one claim per offer (correlation id). Every write is counted, and any operation can be made to throw.
actor InMemoryStore: TollgateStore {
    enum Operation: Sendable, Hashable {
        case reserve, release, finish, append, events, purge
    }

    struct Claim: Sendable, Hashable {
        var reservation: Reservation
        var state: Reservation.State
    }

    private(set) var claims: [ProofKey: Claim] = [:]
    private(set) var recorded: [RecordedAuditEvent] = []
    private(set) var payments: [PaymentRecord] = []
    /// Calls of `append(_:)`.
    private(set) var appendCalls = 0
    /// Calls of any writing method (reserve, release, finish, append, purge).
    private(set) var writeCalls = 0
    private var failing: Set<Operation> = []

    func fail(_ operations: Operation...) { failing.formUnion(operations) }
    func recover() { failing.removeAll() }

    func state(of key: ProofKey) -> Reservation.State? { claims[key]?.state }

    func reserve(_ reservation: Reservation, events: [AuditEvent]) async throws -> ReservationOutcome {
        try check(.reserve)
        if let identifier = reservation.paymentIdentifier,
           let earlier = claims.values.first(where: { $0.reservation.clientId == reservation.clientId && $0.reservation.paymentIdentifier == identifier }),
           earlier.reservation.fingerprint != reservation.fingerprint {
            return .identifierConflict(correlationId: earlier.reservation.correlationId)
        }
        if let claim = claims[reservation.key] {
            return .alreadyClaimed(correlationId: claim.reservation.correlationId, state: claim.state)
        }
        if let claim = claims.values.first(where: { $0.reservation.correlationId == reservation.correlationId }) {
            return .offerAlreadyUsed(state: claim.state)
        }
        claims[reservation.key] = Claim(reservation: reservation, state: .reserved)
        write(events)
        return .reserved
    }

    func release(_ key: ProofKey, events: [AuditEvent]) async throws {
        try check(.release)
        if let state = claims[key]?.state, [.reserved, .settling].contains(state) {
            claims[key] = nil
            if intents[key]?.outcome == .open { intents[key] = nil }
        }
        write(events)
    }

    // MARK: settlement ledger

    private(set) var intents: [ProofKey: OpenSettlement] = [:]

    /// Sets a claim's state as a crash would leave it (tests of recovery).
    func setState(_ state: Reservation.State, of key: ProofKey) { claims[key]?.state = state }

    func recordSettlementIntent(_ intent: SettlementIntent, events: [AuditEvent]) async throws {
        try check(.finish)
        if let existing = intents[intent.key] {
            intents[intent.key]?.intent.attempt = intent.attempt
            _ = existing
        } else {
            intents[intent.key] = OpenSettlement(intent: intent, state: .settling, outcome: .open, delivered: false)
        }
        claims[intent.key]?.state = .settling
        write(events)
    }

    func openSettlement(_ key: ProofKey) async throws -> OpenSettlement? {
        guard var open = intents[key] else { return nil }
        open.state = claims[key]?.state ?? .unknown
        if open.intent.response != nil, let ready = responses[key] { open.intent.response = ready }
        return open
    }

    func unresolvedSettlements(limit: Int) async throws -> [OpenSettlement] {
        var all: [OpenSettlement] = []
        for key in intents.keys {
            if let open = try await openSettlement(key), open.outcome == .open || (open.outcome == .settled && !open.delivered) { all.append(open) }
        }
        return Array(all.sorted { $0.intent.createdAtMillis < $1.intent.createdAtMillis }.prefix(limit))
    }

    func settlementsForReview(limit: Int) async throws -> [OpenSettlement] {
        intents.values.filter { $0.outcome == .review }
    }

    func resolveSettlement(_ key: ProofKey, outcome: OpenSettlement.Outcome, delivered: Bool, events: [AuditEvent]) async throws {
        try check(.finish)
        intents[key]?.outcome = outcome
        if delivered { intents[key]?.delivered = true }
        write(events)
    }

    func abandonSettling(events: @escaping @Sendable (OpenSettlement) -> [AuditEvent]) async throws -> [OpenSettlement] {
        var changed: [OpenSettlement] = []
        for (key, claim) in claims where claim.state == .settling {
            claims[key]?.state = .unknown
            if var open = intents[key] {
                open.state = .unknown
                write(events(open))
                changed.append(open)
            }
        }
        return changed
    }

    private(set) var responses: [ProofKey: StoredResponse] = [:]
    private(set) var spend: [String: TokenAmount] = [:]

    /// Holds are counted and never released here; release and commit are the SQLite store's tests.
    func holdSpend(_ holds: [SpendHold], correlationId: String) async throws -> SpendHold? {
        for hold in holds {
            let total = (spend[hold.subject + hold.bucket] ?? TokenAmount(atomic: "0")!).adding(hold.amount)!
            if total > hold.maximum { return hold }
        }
        for hold in holds { spend[hold.subject + hold.bucket] = (spend[hold.subject + hold.bucket] ?? TokenAmount(atomic: "0")!).adding(hold.amount)! }
        return nil
    }

    func storedResponse(_ key: ProofKey, now unixSeconds: Int64) async throws -> StoredResponse? {
        responses[key].flatMap { $0.expiresAt >= unixSeconds ? $0 : nil }
    }

    func finish(_ key: ProofKey, state: Reservation.State, payment: PaymentRecord?, response: StoredResponse?,
                metering: MeteringRecord?, delivered: Bool, events: [AuditEvent]) async throws {
        try check(.finish)
        if let response { responses[key] = response }
        claims[key]?.state = state
        if state == .settled { intents[key]?.outcome = .settled }
        if state == .failed { intents[key]?.outcome = .failed }
        if let payment { intents[key]?.transaction = payment.transaction }
        if delivered { intents[key]?.delivered = true }
        if let payment { payments.append(payment) }
        if let metering, state == .settled { record(metering) }
        write(events)
    }

    // MARK: metering (the rules of SQLiteStore+Metering, in memory)

    private(set) var usage: [String: UsageEvent] = [:]
    private(set) var balances: [String: Int] = [:]
    private var unitHolds: [String: (hold: UnitHold, open: Bool)] = [:]
    private(set) var refundsRecorded: [Refund] = []

    func setBalance(client: String, package: String, units: Int) { balances["\(client)/\(package)"] = units }
    func balance(client: String, package: String) -> Int { balances["\(client)/\(package)"] ?? 0 }

    func recordDelivery(_ key: ProofKey, response: StoredResponse?, metering: MeteringRecord?, events: [AuditEvent]) async throws {
        try check(.finish)
        if let response { responses[key] = response }
        if let metering { record(metering) }
        intents[key]?.delivered = true
        write(events)
    }

    func holdUnits(_ hold: UnitHold, events: [AuditEvent]) async throws -> UnitHoldOutcome {
        try check(.reserve)
        let key = "\(hold.clientId)/\(hold.package)"
        let balance = balances[key] ?? 0
        guard balance >= hold.units else { return .insufficient(balance: balance) }
        balances[key] = balance - hold.units
        unitHolds[hold.correlationId] = (hold, true)
        write(events)
        return .held(remaining: balance - hold.units)
    }

    func finishUnits(correlationId: String, consumed: Int, usage event: UsageEvent?, events: [AuditEvent]) async throws {
        try check(.finish)
        if let entry = unitHolds[correlationId], entry.open {
            let key = "\(entry.hold.clientId)/\(entry.hold.package)"
            balances[key] = max(0, (balances[key] ?? 0) + entry.hold.units - max(0, consumed))
            unitHolds[correlationId] = (entry.hold, false)
        }
        if let event, usage[event.correlationId] == nil { usage[event.correlationId] = event }
        write(events)
    }

    func refund(_ request: RefundRequest, nowMillis: Int64) async throws -> Refund {
        guard let payment = payments.first(where: { $0.correlationId == request.correlationId }) else {
            throw RefundError(.notFound, "no payment for \(request.correlationId)")
        }
        let refund = Refund(id: "rf_\(refundsRecorded.count + 1)", correlationId: payment.correlationId, kind: .payout, state: .pendingPayout,
                            clientId: payment.clientId, payer: payment.payer, resource: payment.resource,
                            amount: (request.amount ?? TokenAmount(atomic: payment.amount)!).atomic, asset: payment.asset,
                            network: payment.network, unit: payment.unit, reason: request.reason, actor: request.actor,
                            automatic: request.automatic, createdAtMillis: nowMillis)
        refundsRecorded.append(refund)
        write([AuditEvent(correlationId: refund.correlationId, timeMillis: nowMillis, stage: .refund, outcome: .ok,
                          reason: request.automatic ? "automatic_refund" : "refund_recorded", details: ["refund_id": refund.id])])
        return refund
    }

    func refunds(state: Refund.State?, correlationId: String?, limit: Int) async throws -> [Refund] {
        refundsRecorded.filter { (state == nil || $0.state == state) && (correlationId == nil || $0.correlationId == correlationId) }
    }

    func closeRefund(id: String, payoutTransaction: String, actor: String, nowMillis: Int64) async throws -> Refund {
        throw RefundError(.unknownRefund, "closing is tested against SQLiteStore")
    }

    private func record(_ metering: MeteringRecord) {
        guard usage[metering.usage.correlationId] == nil else { return }
        usage[metering.usage.correlationId] = metering.usage
        if let grant = metering.grant {
            let key = "\(grant.clientId)/\(grant.package)"
            balances[key] = max(0, (balances[key] ?? 0) + grant.units - metering.usage.quantity)
        }
    }

    func append(_ events: [AuditEvent]) async throws {
        try check(.append)
        appendCalls += 1
        write(events)
    }

    func events(correlationId: String) async throws -> [RecordedAuditEvent] {
        if failing.contains(.events) { throw Self.failure }
        return recorded.filter { $0.event.correlationId == correlationId }
            .sorted { ($0.event.timeMillis, $0.seq) < ($1.event.timeMillis, $1.seq) }
    }

    func purgeReservations(expiredBefore unixSeconds: Int64) async throws -> Int {
        try check(.purge)
        let expired = claims.filter { $0.value.reservation.validBefore < unixSeconds && [.reserved, .failed].contains($0.value.state) }
        for key in expired.keys { claims[key] = nil }
        return expired.count
    }

    func payments(correlationId: String) -> [PaymentRecord] {
        payments.filter { $0.correlationId == correlationId }
    }

    static let failure = TollgateError(.storeUnavailable, "the in-memory store was switched to fail")

    private func check(_ operation: Operation) throws {
        if failing.contains(operation) { throw Self.failure }
        writeCalls += 1
    }

    private func write(_ events: [AuditEvent]) {
        for event in events {
            let previous = recorded.last?.hash ?? AuditChain.genesis
            recorded.append(RecordedAuditEvent(seq: Int64(recorded.count + 1), event: event, previousHash: previous,
                                               hash: AuditChain.hash(previous: previous, event: event)))
        }
    }
}
