/// A `TollgateStore` that tells an `AuditObserver` about every audit event it commits: each call is
/// forwarded to `base` unchanged, and once it has returned without throwing, the events it committed go
/// to the observer. Nothing reaches the observer that the base store did not write.
///
/// Every requirement of `TollgateStore` (and `RefundLedger`) is forwarded here, one method each, in the
/// protocol's order; a new requirement needs its forwarding method here as well.
public struct ObservedStore: TollgateStore {
    public let base: any TollgateStore
    public let observer: any AuditObserver

    public init(_ base: any TollgateStore, observer: any AuditObserver) {
        self.base = base
        self.observer = observer
    }

    // MARK: TollgateStore

    public func reserve(_ reservation: Reservation, events: [AuditEvent]) async throws -> ReservationOutcome {
        let outcome = try await base.reserve(reservation, events: events)
        // The events are written only with the claim; any other outcome writes nothing.
        if outcome == .reserved { report(events) }
        return outcome
    }

    @discardableResult
    public func release(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool {
        let released = try await base.release(key, events: events)
        report(events)
        return released
    }

    public func finish(_ key: ProofKey, state: Reservation.State, payment: PaymentRecord?, response: StoredResponse?,
                       metering: MeteringRecord?, delivery: DeliveryToken?, events: [AuditEvent]) async throws {
        try await base.finish(key, state: state, payment: payment, response: response, metering: metering, delivery: delivery, events: events)
        report(events)
    }

    public func recordDelivery(_ key: ProofKey, response: StoredResponse?, metering: MeteringRecord?, delivery: DeliveryToken,
                               events: [AuditEvent]) async throws {
        try await base.recordDelivery(key, response: response, metering: metering, delivery: delivery, events: events)
        report(events)
    }

    public func recordReplay(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool {
        let recorded = try await base.recordReplay(key, events: events)
        if recorded { report(events) }
        return recorded
    }

    public func reopenDelivery(_ delivery: SettledDelivery, keepForOwner: Bool, nowSeconds: Int64, events: @escaping @Sendable (ReopenedDelivery) -> [AuditEvent]) async throws
        -> ReopenedDelivery {
        let outcome = try await base.reopenDelivery(delivery, keepForOwner: keepForOwner, nowSeconds: nowSeconds, events: events)
        report(events(outcome))
        return outcome
    }

    public func holdUnits(_ hold: UnitHold, events: [AuditEvent]) async throws -> UnitHoldOutcome {
        let outcome = try await base.holdUnits(hold, events: events)
        // Like `reserve`: the events are written with the hold, not when the balance is short.
        if case .held = outcome { report(events) }
        return outcome
    }

    public func finishUnits(correlationId: String, consumed: Int, usage: UsageEvent?, events: [AuditEvent]) async throws {
        try await base.finishUnits(correlationId: correlationId, consumed: consumed, usage: usage, events: events)
        report(events)
    }

    public func storedResponse(_ key: ProofKey, now unixSeconds: Int64) async throws -> StoredResponse? {
        try await base.storedResponse(key, now: unixSeconds)
    }

    public func holdSpend(_ holds: [SpendHold], correlationId: String) async throws -> SpendHold? {
        try await base.holdSpend(holds, correlationId: correlationId)
    }

    public func append(_ events: [AuditEvent]) async throws {
        try await base.append(events)
        report(events)
    }

    public func events(correlationId: String) async throws -> [RecordedAuditEvent] {
        try await base.events(correlationId: correlationId)
    }

    public func purgeReservations(expiredBefore unixSeconds: Int64) async throws -> Int {
        try await base.purgeReservations(expiredBefore: unixSeconds)
    }

    public func reservationState(_ key: ProofKey) async throws -> Reservation.State? {
        try await base.reservationState(key)
    }

    public func lapseUnitHolds(heldBeforeMillis: Int64) async throws -> Int {
        try await base.lapseUnitHolds(heldBeforeMillis: heldBeforeMillis)
    }

    public var claimRenewalInterval: Duration? { base.claimRenewalInterval }

    public func renewClaims(_ keys: [ProofKey]) async throws {
        try await base.renewClaims(keys)
    }

    public func finishOwnClaim(_ key: ProofKey, state: Reservation.State, events: [AuditEvent]) async throws -> Bool {
        let finished = try await base.finishOwnClaim(key, state: state, events: events)
        report(events)
        return finished
    }

    public func takeClaim(_ key: ProofKey) async throws -> Bool {
        try await base.takeClaim(key)
    }

    public func leaveClaim(_ key: ProofKey) async throws {
        try await base.leaveClaim(key)
    }

    public func isClaimLeasedElsewhere(_ key: ProofKey) async throws -> Bool {
        try await base.isClaimLeasedElsewhere(key)
    }

    // MARK: SettlementLedger

    public func recordSettlementIntent(_ intent: SettlementIntent, events: [AuditEvent]) async throws {
        try await base.recordSettlementIntent(intent, events: events)
        report(events)
    }

    public func openSettlement(_ key: ProofKey) async throws -> OpenSettlement? {
        try await base.openSettlement(key)
    }

    public func unresolvedSettlements(after: SettlementCursor?, limit: Int) async throws -> [OpenSettlement] {
        try await base.unresolvedSettlements(after: after, limit: limit)
    }

    public func settlementsForReview(limit: Int) async throws -> [OpenSettlement] {
        try await base.settlementsForReview(limit: limit)
    }

    public func resolveSettlement(_ key: ProofKey, outcome: OpenSettlement.Outcome, delivered: Bool, events: [AuditEvent]) async throws {
        try await base.resolveSettlement(key, outcome: outcome, delivered: delivered, events: events)
        report(events)
    }

    public func deliverSettled(_ key: ProofKey, delivery: DeliveryToken, events: [AuditEvent]) async throws -> Bool {
        let written = try await base.deliverSettled(key, delivery: delivery, events: events)
        if written { report(events) }
        return written
    }

    public func holdForReview(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool {
        let held = try await base.holdForReview(key, events: events)
        if held { report(events) }
        return held
    }

    public func abandonSettling(events: @escaping @Sendable (OpenSettlement) -> [AuditEvent]) async throws -> [OpenSettlement] {
        let changed = try await base.abandonSettling(events: events)
        report(changed.flatMap(events))
        return changed
    }

    // MARK: RefundLedger

    /// The store writes the refund's audit event itself; the observer gets the same facts, rebuilt from
    /// the refund it returns.
    public func refund(_ request: RefundRequest, nowMillis: Int64) async throws -> Refund {
        let refund = try await base.refund(request, nowMillis: nowMillis)
        report([Self.event(recording: refund)])
        return refund
    }

    public func refunds(state: Refund.State?, correlationId: String?, limit: Int) async throws -> [Refund] {
        try await base.refunds(state: state, correlationId: correlationId, limit: limit)
    }

    /// Closing a payout records how an existing refund was paid; no new refund, so nothing is observed.
    public func closeRefund(id: String, payoutTransaction: String, batch: Bool, actor: String, nowMillis: Int64) async throws -> Refund {
        try await base.closeRefund(id: id, payoutTransaction: payoutTransaction, batch: batch, actor: actor, nowMillis: nowMillis)
    }

    private func report(_ events: [AuditEvent]) {
        if !events.isEmpty { observer.observe(events) }
    }

    /// The `refund` event describing a recorded refund.
    static func event(recording refund: Refund) -> AuditEvent {
        AuditEvent(correlationId: refund.correlationId, timeMillis: refund.createdAtMillis, stage: .refund, outcome: .ok,
                   clientId: refund.clientId, resource: refund.resource, details: [
                       "refund": refund.id, "kind": refund.kind.rawValue, "state": refund.state.rawValue, "amount": refund.amount,
                       "asset": refund.asset, "network": refund.network, "unit": refund.unit, "automatic": String(refund.automatic),
                   ])
    }
}
