import Crypto
import HTTPTypes

/// Stages `settle`, `meter` and `respond`: only a delivered answer is settled (the intent, with the answer, is
/// committed first; with `settle: before`, the settlement comes first and what is then not delivered is
/// refunded); the outcome of `/settle` is never guessed: not sent is released, sent without an answer is held
/// (`unknown`) for the retry or the reconciler, a pending one is asked exactly once more (and held when that second ask
/// cannot reach the facilitator: the first was sent). The settlement, the
/// ledger entry, the usage and the answer kept for retries are recorded in one transaction before the answer is
/// served: nothing unrecorded is served.
extension Journey {
    /// How `/settle` went, as the driver saw it.
    enum SettleOutcome: Sendable {
        /// The incident switch was on for the resource: nothing was sent.
        case suspended(incident: String)
        /// The rail's answer; `attempt` is the one whose intent was committed.
        case answered(Settlement, attempt: SettlementAttempt?)
        /// No answer: `failure.reachedAuthority` says whether it may have been sent.
        case railFailed(RailFailure, intentRecorded: Bool)
        /// The intent could not be committed, so that attempt was not sent.
        case intentNotRecorded(Failure, intentRecorded: Bool)
    }

    /// A settlement and the rail's receipt of it.
    struct Settled: Sendable {
        var settlement: Settlement
        var receipt: HTTPFields
        var transaction: String { settlement.transaction }
    }

    /// A settled request that was not delivered (`settle: before`).
    struct NotDelivered: Sendable {
        var answer: UpstreamResponse?
        var reason: Reason
        var detail: String
    }

    mutating func settle(_ paid: PaidFlow, _ delivered: Delivered?, events: [AuditEvent]) -> Action {
        let proof = paid.proof
        let intent = SettlementIntent(
            key: proof.key, correlationId: flow.correlationId, attempt: SettlementAttempt(authority: "", request: []),
            payment: paid.paymentRecord(transaction: "", bodyDigest: delivered?.bodyDigest ?? "", atMillis: nowMillis),
            metering: delivered?.metering, response: delivered?.prepared, redeliverable: paid.route.redeliverable(paid.request.method),
            validBefore: Int64(proof.validBefore) ?? 0, createdAtMillis: nowMillis)
        state = .settling(paid, delivered, events: events)
        return .settle(paid, intent: intent, events: events)
    }

    mutating func settleAnswered(_ outcome: SettleOutcome, receipt: HTTPFields, _ paid: PaidFlow, _ delivered: Delivered?,
                                 events: [AuditEvent], resettled: Bool) -> Action {
        let key = paid.proof.key
        switch outcome {
        case .suspended(let incident):
            // The switch went on while this request was in flight: deliver nothing, settle nothing.
            let denied = event(.settle, .denied, .incident, ["incident": incident, "settled": "false"])
            return finish(.release(key, events: events + [denied], then: .deny(Denial(
                status: .serviceUnavailable, error: "service_unavailable", stage: .respond, reason: .incident,
                detail: "payments are suspended (incident \(incident)); nothing was charged", extra: ["incident": incident], durable: true))))
        case .railFailed(let failure, let recorded) where !failure.reachedAuthority && !resettled:
            // No facilitator could be connected to: `/settle` was never sent, nothing can have moved. (Not so when this
            // was the second ask of a settlement the facilitator had answered pending: its money may move, so the claim
            // is held as unknown below, never released.)
            let failed = event(.settle, .error, .facilitatorUnavailable, ["detail": "\(failure)", "sent": "false", "settled": "false"])
            return finish(.release(key, events: (recorded ? [] : events) + [failed], then: .deny(Denial(
                status: .serviceUnavailable, error: "service_unavailable", stage: .respond, reason: .facilitatorUnavailable,
                detail: "payment settlement is unavailable; nothing was charged; retry later", durable: true))))
        case .railFailed(let failure, let recorded):
            let recorded = recorded && !resettled
            let failed = event(.settle, .error, .settlementUnknown, ["detail": "\(failure)", "authority": failure.authority])
            return finish(.finishClaim(key, .unknown, events: (recorded ? [] : events) + [failed], then: .deny(Denial(
                status: .serviceUnavailable, error: "service_unavailable", stage: .respond, reason: .settlementUnknown,
                detail: "settlement could not be confirmed; the payment is held for reconciliation; send the same proof again later, do not pay again",
                durable: true))))
        case .intentNotRecorded(let failure, let recorded):
            // The intent could not be recorded, so nothing was sent.
            let failed = event(.settle, .error, .storeUnavailable, ["detail": failure.detail, "sent": "false", "settled": "false"])
            return finish(.release(key, events: (recorded ? [] : events) + [failed], then: .deny(Denial(
                status: .serviceUnavailable, error: "service_unavailable", stage: .respond, reason: .storeUnavailable,
                detail: "the gateway cannot record payments right now; nothing was charged", durable: true))))
        case .answered(let settlement, let attempt):
            // The flow's events so far were committed with the first intent (a resettle's are its own).
            var events = attempt == nil || resettled ? events : []
            switch settlement.status {
            case .pending where !resettled && attempt != nil:
                // Not final: ask the same facilitator once more with the identical body, never with a fresh 402
                // (the client would pay twice).
                events.append(event(.settle, .error, .settlementPending, ["transaction": settlement.transaction]))
                state = .resettling(paid, delivered, events: events)
                return .resettle(attempt!)
            case .pending:
                events.append(event(.settle, .error, .settlementPending, ["transaction": settlement.transaction]))
                return finish(.finishClaim(key, .pending, events: events, then: .deny(Denial(
                    status: .serviceUnavailable, error: "service_unavailable", stage: .respond, reason: .settlementPending,
                    detail: "settlement is still pending (\(settlement.transaction)); the payment is held, do not pay again", durable: true))))
            case .failed where Self.mayHaveMoved(refusal: settlement.errorReason, resettled: resettled, authorizationUsed: wire.authorizationUsed,
                                                 chainReadable: settings.chainNetworks.contains(paid.proof.network)):
                // Not a refusal that proves nothing moved (a reason that is no x402 code, or, asked a second time, one the
                // first attempt landing would itself cause): held as unknown for the retry or the reconciler, never a 402,
                // which a stock client reads as "nothing was charged" and pays again.
                let reason = Reason(settlement.errorReason ?? Reason.settlementFailed.rawValue)
                events.append(event(.settle, .error, .settlementUnknown, ["detail": "the facilitator refused (\(reason.rawValue)): "
                                                                              + (settlement.errorMessage ?? ""), "refusal": reason.rawValue]))
                return finish(.finishClaim(key, .unknown, events: events, then: .deny(Denial(
                    status: .serviceUnavailable, error: "service_unavailable", stage: .respond, reason: .settlementUnknown,
                    detail: "settlement could not be confirmed (\(reason.rawValue)); the payment is held for reconciliation; send the same proof "
                        + "again later, do not pay again", durable: true))))
            case .failed:
                let reason = Reason(settlement.errorReason ?? Reason.settlementFailed.rawValue)
                events.append(event(.settle, .denied, reason, ["detail": settlement.errorMessage ?? ""]))
                events.append(event(.respond, .denied, .settlementFailed, ["status": "402", "settled": "false"]))
                return finish(.finishClaim(key, .failed, events: events, then: .settlementRefused(receipt: receipt)))
            case .settled:
                let offer = paid.offer.offer
                events.append(event(.settle, .ok, nil, ["transaction": settlement.transaction, "network": settlement.network,
                                                        "asset": offer.asset, "amount": offer.amount.atomic]))
                guard let delivered else {
                    state = .recordingSettlement(paid, Settled(settlement: settlement, receipt: receipt))
                    return .record(key, paid.paymentRecord(transaction: settlement.transaction, bodyDigest: "", atMillis: nowMillis), nil, nil,
                                   delivery: nil, events: events)
                }
                // The copy kept for retries is the one prepared with the intent, now with its receipt: built once per request.
                let response = paid.deliveredResponse(delivered.answer, receiptFields: receipt)
                let stored = delivered.prepared?.receipted(receipt, expiresAt: nowMillis / 1000 + Int64(settings.idempotencyWindowSeconds))
                let ran = events
                events.append(contentsOf: paid.deliveryEvents(delivered.answer, consumed: delivered.consumed, bodyDigest: delivered.bodyDigest,
                                                              atMillis: nowMillis))
                let payment = paid.paymentRecord(transaction: settlement.transaction, bodyDigest: delivered.bodyDigest, atMillis: nowMillis)
                state = .recording(response, transaction: settlement.transaction, ran: ran)
                return .record(key, payment, stored, delivered.metering, delivery: paid.delivery, events: events)
            }
        }
    }

    /// Whether a facilitator's refusal to settle leaves the money in doubt (`SettlementRefusal.nothingMoved`). The first
    /// attempt told the authorization was used is taken for a replay of one spent elsewhere (this gateway never sent it
    /// before), and the refusal ends the claim, unless the chain can be read (`chainReadable`): someone else may have sent
    /// this very authorization, which paid the payee, so the chain decides (the resolution reads it) before a 402.
    static func mayHaveMoved(refusal: String?, resettled: Bool, authorizationUsed: Reason, chainReadable: Bool = false) -> Bool {
        let reason = refusal ?? Reason.settlementFailed.rawValue
        if !resettled && reason == authorizationUsed.rawValue { return chainReadable }
        return !SettlementRefusal.nothingMoved(reason, resent: resettled)
    }

    mutating func recorded(_ written: Bool, _ response: GatewayResponse, transaction: String) -> Action {
        // The money moved but the ledger could not record it: do not serve what is not recorded.
        finish(written ? .delivered(response) : .notRecorded(transaction: transaction, delivery: false))
    }

    // MARK: settle: before

    mutating func settlementRecorded(_ written: Bool, _ paid: PaidFlow, _ settlement: Settled) -> Action {
        guard written else { return finish(.notRecorded(transaction: settlement.transaction, delivery: false)) }
        state = .forwardingSettled(paid, settlement)
        return .forward(paid.contract(atSeconds: nowMillis / 1000))
    }

    mutating func forwardedSettled(_ delivery: PaidDelivery, _ paid: PaidFlow, _ settlement: Settled) -> Action {
        switch delivery {
        case .failed(let answer, let reason, let detail, let events):
            // What happened upstream is recorded first, so the trail reads forward → refund → respond.
            // `refunds.automatic: false`: no refund record; the payment is held for an operator to decide.
            let request = settings.automaticRefunds
                ? RefundRequest(correlationId: flow.correlationId, reason: "not delivered: \(reason.rawValue)", actor: "tollgate", automatic: true,
                                onlyIfUndelivered: true)
                : nil
            state = .refunding(paid, settlement, NotDelivered(answer: answer, reason: reason, detail: detail))
            return .refund(request, events: events)
        case .delivered(let answer, let consumed, let events):
            return recordDelivery(answer, consumed: consumed, events: events, paid, receipt: settlement.receipt,
                                  unrecorded: .notRecorded(transaction: settlement.transaction, delivery: true))
        }
    }

    /// The delivery of a payment already settled (`settle: before`, or a redelivery after the answer was lost) is
    /// recorded, with its usage and the copy kept for retries, before it is served with its receipt.
    mutating func recordDelivery(_ answer: UpstreamResponse, consumed: Int, events: [AuditEvent], _ paid: PaidFlow, receipt: HTTPFields,
                                 unrecorded: Answer) -> Action {
        let (response, stored) = paid.receipt(answer, receiptFields: receipt, settings: settings, atMillis: nowMillis)
        let digest = HexString.encode(SHA256.hash(data: answer.body))
        state = .recordingDelivery(response, unrecorded: unrecorded, ran: events)
        return .recordDelivery(paid.proof.key, stored, paid.metering(consumed: consumed, atMillis: nowMillis), paid.delivery,
                               events: events + paid.deliveryEvents(answer, consumed: consumed, bodyDigest: digest, atMillis: nowMillis))
    }

    /// The work ran, but its payment was refunded or put under review meanwhile (another instance, an operator): its
    /// answer is not served, and what ran is audited with why.
    mutating func deliveryClosed(_ detail: String, ran: [AuditEvent]) -> Action {
        finish(.deny(Denial(status: .badGateway, error: "bad_gateway", stage: .respond, reason: .settlementClosed,
                            detail: "\(detail), so its answer is not served; send the same proof again to see the refund",
                            durable: true, before: ran)))
    }

    mutating func refunded(_ result: Result<Refund, Failure>?, _ paid: PaidFlow, _ settlement: Settled, _ failure: NotDelivered) -> Action {
        let refund = try? result?.get()
        var facts = ["refund_id": refund?.id ?? ""]
        if result == nil { facts["refund"] = "manual_review" }
        var fields = HTTPFields()
        if let refund { fields[.tollgateRefund] = refund.id }
        if let answer = failure.answer {
            let denied = event(.respond, .denied, failure.reason, facts.merging(["status": String(answer.status.code), "settled": "true"]) { a, _ in a })
            return finish(.commit([denied], then: .passedOn(answer, paid.route, paid.identity, extra: fields)))
        }
        let owed = result == nil ? "the payment is held for manual review (automatic refunds are off); support can trace this flow"
            : refund.map { "refund \($0.id) (\($0.amount) \($0.asset), pending payout) is recorded" }
            ?? "the refund could not be recorded; support can trace this flow"
        return finish(.deny(Denial(status: .badGateway, error: "bad_gateway", stage: .respond, reason: failure.reason,
                                   detail: "\(failure.detail); the payment had settled (\(settlement.transaction)), so \(owed)",
                                   extra: facts, durable: true, fields: fields)))
    }
}

extension PaidFlow {
    /// The ledger entry of this payment.
    func paymentRecord(transaction: String, bodyDigest: String, atMillis now: Int64) -> PaymentRecord {
        let offer = offer.offer
        return PaymentRecord(
            correlationId: flow.correlationId, rail: proof.rail, network: proof.key.network, asset: proof.key.asset,
            // One spelling per payment: the amount as the offer states it (a proof may write it with leading zeros).
            payer: proof.key.payer, payee: proof.payee.lowercased(), amount: offer.amount.atomic, nonce: proof.key.nonce,
            transaction: transaction, clientId: identity.clientId, resource: route.resource,
            unit: offer.unit, quantity: offer.quantity, settledAtMillis: now, bodySHA256: bodyDigest)
    }

    /// The delivered answer with its receipt, and the copy kept for the same client's retries.
    func receipt(_ answer: UpstreamResponse, receiptFields: HTTPFields, settings: Gateway.Settings,
                 atMillis now: Int64) -> (GatewayResponse, StoredResponse?) {
        let response = deliveredResponse(answer, receiptFields: receiptFields)
        return (response, storable(answer, fields: response.headerFields, settings: settings, atMillis: now))
    }

    /// The delivered answer with its receipt, marked settled (so a failed write is refunded).
    func deliveredResponse(_ answer: UpstreamResponse, receiptFields: HTTPFields) -> GatewayResponse {
        var fields = HopByHop.response(answer.headerFields)
        fields.append(contentsOf: receiptFields)
        fields[.cacheControl] = "private"
        var response = GatewayResponse(status: answer.status, headerFields: fields, body: answer.body)
        response.settledDelivery = settledDelivery
        return response
    }

    /// The copy of an answer kept for the paying client's retries; nil when it is too large to keep.
    func storable(_ answer: UpstreamResponse, fields: HTTPFields, settings: Gateway.Settings, atMillis now: Int64) -> StoredResponse? {
        guard answer.body.count <= settings.maxStoredResponseBytes else { return nil }
        var fields = fields
        fields[.cacheControl] = "private"
        return StoredResponse(
            correlationId: flow.correlationId, clientId: identity.clientId, request: offer.offer.request, status: answer.status.code,
            headers: fields.map { [$0.name.rawName, $0.value] }, body: answer.body,
            expiresAt: now / 1000 + Int64(settings.idempotencyWindowSeconds), paymentIdentifier: proof.paymentIdentifier)
    }

    /// The `meter` and `respond` events of a delivered payment.
    func deliveryEvents(_ answer: UpstreamResponse, consumed: Int, bodyDigest: String, atMillis now: Int64) -> [AuditEvent] {
        let offer = offer.offer
        var meter = ["unit": offer.unit, "consumed": String(consumed), "paid_quantity": String(offer.quantity), "source": "payment"]
        if let package = pricing.metering.package {
            meter["source"] = "package_purchase"
            meter["package"] = package.name
        }
        return [
            flow.event(.meter, .ok, Reason("units_consumed"), atMillis: now, meter),
            flow.event(.respond, .ok, .delivered, atMillis: now, ["status": String(answer.status.code), "settled": "true",
                                                                  "body_sha256": bodyDigest, "bytes": String(answer.body.count)]),
        ]
    }

    /// The usage this payment recorded, and the package units it bought.
    func metering(consumed: Int, atMillis now: Int64) -> MeteringRecord {
        let offer = offer.offer
        let usage = UsageEvent(correlationId: flow.correlationId, clientId: identity.clientId, payer: proof.key.payer,
                               resource: route.resource, unit: offer.unit, quantity: consumed, paidQuantity: offer.quantity,
                               source: .payment, amount: offer.amount.atomic, asset: offer.asset, atMillis: now)
        let grant = pricing.metering.package.map {
            PackageGrant(clientId: identity.clientId, package: $0.name, unit: offer.unit, units: offer.quantity)
        }
        return MeteringRecord(usage: usage, grant: grant)
    }
}
