import TollgateCore

/// Settlement intents and their outcomes: what a crash between `/settle` and the answer leaves to resolve.
extension InMemoryStore {
    public func recordSettlementIntent(_ intent: SettlementIntent, events: [AuditEvent]) async throws {
        try check(.finish)
        if intents[intent.key] != nil {
            intents[intent.key]?.intent.attempt = intent.attempt
        } else {
            var stored = intent
            stored.response = nil
            intents[intent.key] = OpenSettlement(intent: stored, state: .settling, outcome: .open, delivered: false)
        }
        if let response = intent.response { responses[intent.key] = (response, false) }
        updated[intent.key] = clock.nowMillis()
        claims[intent.key]?.state = .settling
        write(events)
    }

    public func openSettlement(_ key: ProofKey) async throws -> OpenSettlement? {
        guard var open = intents[key] else { return nil }
        open.state = claims[key]?.state ?? .unknown
        open.intent.response = responses[key]?.response
        // As a shared store says it: only of a live claim (claimed, settling, or settled and not yet delivered).
        open.leasedElsewhere = open.isLive && leasedElsewhere.contains(key)
        return open
    }

    public func unresolvedSettlements(after: SettlementCursor?, limit: Int) async throws -> [OpenSettlement] {
        try await settlements(limit: limit) { ($0.outcome == .open || ($0.outcome == .settled && !$0.delivered)) && after?.precedes($0) != false }
    }

    public func settlementsForReview(limit: Int) async throws -> [OpenSettlement] {
        try await settlements(limit: limit) { $0.outcome == .review }
    }

    func settlements(limit: Int, where include: (OpenSettlement) -> Bool) async throws -> [OpenSettlement] {
        var all: [OpenSettlement] = []
        for key in intents.keys {
            if let open = try await openSettlement(key), include(open) { all.append(open) }
        }
        return Array(all.sorted { ($0.intent.createdAtMillis, $0.intent.correlationId) < ($1.intent.createdAtMillis, $1.intent.correlationId) }.prefix(limit))
    }

    public func resolveSettlement(_ key: ProofKey, outcome: OpenSettlement.Outcome, delivered: Bool, events: [AuditEvent]) async throws {
        try check(.finish)
        intents[key]?.outcome = outcome
        if delivered {
            intents[key]?.delivered = true
            responses[key]?.ready = true
        }
        updated[key] = clock.nowMillis()
        write(events)
    }

    public func deliverSettled(_ key: ProofKey, delivery: DeliveryToken, events: [AuditEvent]) async throws -> Bool {
        try check(.finish)
        guard let open = intents[key], open.outcome == .settled else { return false }
        intents[key]?.delivered = true
        soleDelivery[key] = open.delivered ? nil : delivery
        responses[key]?.ready = true
        updated[key] = clock.nowMillis()
        write(events)
        return true
    }

    public func holdForReview(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool {
        try check(.finish)
        guard let open = intents[key], open.outcome == .settled, !open.delivered else { return false }
        intents[key]?.outcome = .review
        updated[key] = clock.nowMillis()
        write(events)
        return true
    }

    public func abandonSettling(events: @escaping @Sendable (OpenSettlement) -> [AuditEvent]) async throws -> [OpenSettlement] {
        var changed: [OpenSettlement] = []
        for (key, claim) in claims where claim.state == .settling {
            guard var open = try await openSettlement(key) else { continue }
            claims[key]?.state = .unknown
            open.state = .unknown
            write(events(open))
            changed.append(open)
        }
        return changed
    }

    func settleIntent(_ key: ProofKey, state: Reservation.State?, transaction: String?, delivery: DeliveryToken?) {
        guard intents[key] != nil else { return }
        if let outcome = StoreRetention.intentOutcome(state), intents[key]?.outcome.isClosed != true,
           !(intents[key]?.outcome == .settled && outcome == .failed) {
            intents[key]?.outcome = outcome
        }
        if let transaction, !transaction.isEmpty { intents[key]?.transaction = transaction }
        if let delivery, let open = intents[key] {
            intents[key]?.delivered = true
            soleDelivery[key] = open.delivered ? nil : delivery
        }
        updated[key] = clock.nowMillis()
    }
}
