import Crypto
import HTTPTypes
import Logging

extension Gateway {
    /// After the claim: facilitator verification → spend holds → (settle, with `settle: before`) → forward →
    /// the final decision → settle (by default) → respond. Units count as consumed at the route's moment
    /// of consumption; what is not consumed is not charged, or is refunded when it was charged first.
    func verifiedAndReserved(_ request: GatewayRequest, route: Route, pricing: Route.Pricing, identity: Identity,
                             proof: PaymentProof, offer signed: SignedOffer, flow: Flow) async -> GatewayResponse {
        let offer = signed.offer
        var events: [AuditEvent] = []
        do {
            let verdict = try await rail.verify(proof, offer: signed, logger: logger)
            if case .invalid(let reason, let detail) = verdict {
                events.append(flow.event(.facilitatorVerify, .denied, reason, clock: clock, ["detail": detail]))
                await release(proof, events: events)
                return await refuse(request, route, pricing, identity, reason, flow: flow, alreadyAudited: true, detail: detail)
            }
            events.append(flow.event(.facilitatorVerify, .ok, clock: clock))
        } catch {
            events.append(flow.event(.facilitatorVerify, .error, .facilitatorUnavailable, clock: clock, ["detail": "\(error)"]))
            await release(proof, events: [])
            return await unavailable(.facilitatorUnavailable, flow: flow, detail: "payment verification is unavailable; retry later", events: events)
        }

        let holds = spendHolds(identity: identity, payer: proof.key.payer, offer: offer)
        if !holds.isEmpty {
            do {
                if let exceeded = try await store.holdSpend(holds, correlationId: flow.correlationId) {
                    let isQuota = exceeded.bucket.hasPrefix(Quota.bucketPrefix)
                    let reason: Reason = isQuota ? .quotaExceeded : .spendCapExceeded
                    events.append(flow.event(.decide, .denied, reason, clock: clock,
                                             ["subject": exceeded.subject, "bucket": exceeded.bucket, "cap": exceeded.maximum.atomic, "settled": "false"]))
                    await release(proof, events: events)
                    return await deny(.forbidden, "forbidden", .respond, reason, flow: flow,
                                      detail: "this payment would exceed the \(isQuota ? "quota" : "spend cap") of \(exceeded.subject); nothing was charged",
                                      durable: true)
                }
            } catch {
                events.append(flow.event(.decide, .error, .storeUnavailable, clock: clock, ["detail": "\(error)"]))
                await release(proof, events: [])
                return await unavailable(.storeUnavailable, flow: flow, detail: "the gateway cannot record spend right now", events: events)
            }
        }

        let paid = PaidFlow(request: request, route: route, pricing: pricing, identity: identity, proof: proof, offer: signed, flow: flow)
        if pricing.metering.settle == .before {
            return await settleThenDeliver(paid, events: events)
        }
        switch await forward(paid, events: events) {
        case .failed(let answer, let reason, let detail, let events):
            // Not delivered, so not settled: the same proof may be presented again.
            if let answer {
                await release(proof, events: events + [flow.event(.respond, .denied, reason, clock: clock,
                                                                  ["status": String(answer.status.code), "settled": "false"])])
                return await passedOn(answer, route: route, identity: identity, flow: flow)
            }
            await release(proof, events: events)
            return await deny(.badGateway, "bad_gateway", .respond, reason, flow: flow, detail: "\(detail); nothing was charged", durable: true)
        case .delivered(let answer, let consumed, let events):
            // The answer exists before settlement: it is kept with the intent, so a settlement resolved later
            // (after a crash or a timeout) can still be delivered to the client's retry.
            let digest = HexString.encode(SHA256.hash(data: answer.body))
            let usage = metering(paid, consumed: consumed)
            let charged = await charge(paid, prepared: storable(paid, answer: answer, fields: HopByHop.response(answer.headerFields)),
                                       metering: usage, bodyDigest: digest, events: events)
            guard case .settled(let settlement, var events) = charged else { return charged.stoppedResponse }
            let (response, stored) = receipt(paid, answer: answer, settlement: settlement)
            events.append(contentsOf: deliveryEvents(paid, answer: answer, consumed: consumed, bodyDigest: digest))
            let payment = paymentRecord(paid, transaction: settlement.transaction, bodyDigest: digest)
            do {
                try await store.finish(proof.key, state: .settled, payment: payment, response: stored,
                                       metering: usage, delivered: true, events: events)
            } catch {
                // The money moved but the ledger could not record it: do not serve what is not recorded.
                logger.critical("settled payment not recorded", metadata: [
                    "tollgate.correlation_id": "\(flow.correlationId)", "x402.transaction": "\(settlement.transaction)", "tollgate.error": "\(error)",
                ])
                return await deny(.serviceUnavailable, "service_unavailable", .respond, .storeUnavailable, flow: flow,
                                  detail: "the payment settled (\(settlement.transaction)) but could not be recorded; support can trace this flow")
            }
            return response
        }
    }

    /// `settle: before`: the payment is settled and recorded first; a request that is then not delivered
    /// gets an automatic refund record (`pending_payout`), named in its answer, or, with automatic refunds
    /// off, is held for manual review.
    private func settleThenDeliver(_ paid: PaidFlow, events: [AuditEvent]) async -> GatewayResponse {
        let flow = paid.flow
        let charged = await charge(paid, prepared: nil, metering: nil, bodyDigest: "", events: events)
        guard case .settled(let settlement, let settleEvents) = charged else { return charged.stoppedResponse }
        do {
            try await store.finish(paid.proof.key, state: .settled, payment: paymentRecord(paid, transaction: settlement.transaction, bodyDigest: ""),
                                   response: nil, metering: nil, delivered: false, events: settleEvents)
        } catch {
            logger.critical("settled payment not recorded", metadata: [
                "tollgate.correlation_id": "\(flow.correlationId)", "x402.transaction": "\(settlement.transaction)", "tollgate.error": "\(error)",
            ])
            return await deny(.serviceUnavailable, "service_unavailable", .respond, .storeUnavailable, flow: flow,
                              detail: "the payment settled (\(settlement.transaction)) but could not be recorded; support can trace this flow")
        }
        switch await forward(paid, events: []) {
        case .failed(let answer, let reason, let detail, let events):
            // What happened upstream is recorded first, so the trail reads forward → refund → respond.
            await appendDurably(events)
            var refund: Refund?
            // `refunds.automatic: false`: no refund record; the payment is held for an operator to decide.
            var facts = ["refund_id": ""]
            if settings.automaticRefunds {
                do {
                    refund = try await store.refund(RefundRequest(correlationId: flow.correlationId, reason: "not delivered: \(reason.rawValue)",
                                                                  actor: "tollgate", automatic: true), nowMillis: clock.nowMillis())
                    facts["refund_id"] = refund?.id
                } catch {
                    logger.critical("automatic refund not recorded", metadata: ["tollgate.correlation_id": "\(flow.correlationId)", "tollgate.error": "\(error)"])
                }
            } else {
                facts["refund"] = "manual_review"
            }
            let owed = !settings.automaticRefunds ? "the payment is held for manual review (automatic refunds are off); support can trace this flow"
                : refund.map { "refund \($0.id) (\($0.amount) \($0.asset), pending payout) is recorded" }
                ?? "the refund could not be recorded; support can trace this flow"
            if let answer {
                await appendDurably([flow.event(.respond, .denied, reason, clock: clock,
                                                facts.merging(["status": String(answer.status.code), "settled": "true"]) { a, _ in a })])
                var extra = HTTPFields()
                if let refund { extra[.tollgateRefund] = refund.id }
                return await passedOn(answer, route: paid.route, identity: paid.identity, flow: flow, extra: extra)
            }
            var response = await deny(.badGateway, "bad_gateway", .respond, reason, flow: flow,
                                      detail: "\(detail); the payment had settled (\(settlement.transaction)), so \(owed)",
                                      extra: facts, durable: true)
            if let refund { response.headerFields[.tollgateRefund] = refund.id }
            return response
        case .delivered(let answer, let consumed, var events):
            let (response, stored) = receipt(paid, answer: answer, settlement: settlement)
            events.append(contentsOf: deliveryEvents(paid, answer: answer, consumed: consumed,
                                                     bodyDigest: HexString.encode(SHA256.hash(data: answer.body))))
            do {
                try await store.recordDelivery(paid.proof.key, response: stored, metering: metering(paid, consumed: consumed), events: events)
            } catch {
                logger.critical("delivery of a settled payment not recorded", metadata: ["tollgate.correlation_id": "\(flow.correlationId)"])
                return await deny(.serviceUnavailable, "service_unavailable", .respond, .storeUnavailable, flow: flow,
                                  detail: "the payment settled (\(settlement.transaction)) but the delivery could not be recorded; support can trace this flow")
            }
            return response
        }
    }

    /// Sends the paid request upstream and applies the final decision: the moment of consumption, then
    /// the private-field filter. Measures what the answer consumed.
    func forward(_ paid: PaidFlow, events: [AuditEvent]) async -> PaidDelivery {
        var events = events
        let flow = paid.flow, offer = paid.offer.offer, metering = paid.pricing.metering
        let contract = ContractSigner.Contract(
            client: paid.identity.clientId, payer: paid.proof.payer, amount: "\(offer.amount) \(offer.asset)@\(offer.network)",
            unit: "\(offer.unit)=\(offer.quantity)", correlationId: flow.correlationId, timestamp: clock.nowSeconds)
        let started = clock.nowMillis()
        var answer: UpstreamResponse
        do {
            answer = try await upstream.send(upstreamRequest(paid.request, contract: contract))
        } catch {
            events.append(flow.event(.forward, .error, .upstreamUnavailable, clock: clock, ["detail": "\(error)"]))
            return .failed(answer: nil, reason: .upstreamUnavailable, detail: "the upstream did not answer", events: events)
        }
        let elapsed = clock.nowMillis() - started
        let facts = ["status": String(answer.status.code), "latency_ms": String(elapsed)]
        guard metering.consumes(status: answer.status.code) else {
            events.append(flow.event(.forward, .ok, .upstreamRefused, clock: clock, facts))
            return .failed(answer: answer, reason: .upstreamRefused, detail: "the upstream refused the request", events: events)
        }
        events.append(flow.event(.forward, .ok, clock: clock, facts))
        let consumed = metering.consumedUnits(answer, quoted: flow.requested, elapsedMillis: elapsed)
        switch filterPrivateFields(answer, route: paid.route, identity: paid.identity, flow: flow) {
        case .success(let (filtered, filterEvents)):
            answer = filtered
            events.append(contentsOf: filterEvents)
        case .failure(let refusal):
            events.append(contentsOf: refusal.events)
            return .failed(answer: nil, reason: refusal.reason, detail: refusal.detail, events: events)
        }
        return .delivered(answer: answer, consumed: consumed, events: events)
    }

    func paymentRecord(_ paid: PaidFlow, transaction: String, bodyDigest: String) -> PaymentRecord {
        let proof = paid.proof, offer = paid.offer.offer
        return PaymentRecord(
            correlationId: paid.flow.correlationId, rail: proof.rail, network: proof.key.network, asset: proof.key.asset,
            payer: proof.key.payer, payee: proof.payee.lowercased(), amount: proof.amount, nonce: proof.key.nonce,
            transaction: transaction, clientId: paid.identity.clientId, resource: paid.route.resource,
            unit: offer.unit, quantity: offer.quantity, settledAtMillis: clock.nowMillis(), bodySHA256: bodyDigest)
    }

    /// The delivered answer with its receipt, and the copy kept for the same client's retries.
    func receipt(_ paid: PaidFlow, answer: UpstreamResponse, settlement: Settlement) -> (GatewayResponse, StoredResponse?) {
        var fields = HopByHop.response(answer.headerFields)
        fields.append(contentsOf: rail.receiptFields(settlement))
        fields[.cacheControl] = "private"
        var response = GatewayResponse(status: answer.status, headerFields: fields, body: answer.body)
        response.settledFlow = paid.flow.correlationId
        return (response, storable(paid, answer: answer, fields: fields))
    }

    /// The copy of an answer kept for the paying client's retries; nil when it is too large to keep.
    func storable(_ paid: PaidFlow, answer: UpstreamResponse, fields: HTTPFields) -> StoredResponse? {
        guard answer.body.count <= settings.maxStoredResponseBytes else { return nil }
        var fields = fields
        fields[.cacheControl] = "private"
        return StoredResponse(
            correlationId: paid.flow.correlationId, clientId: paid.identity.clientId, request: paid.offer.offer.request, status: answer.status.code,
            headers: fields.map { [$0.name.rawName, $0.value] }, body: answer.body,
            expiresAt: clock.nowSeconds + Int64(settings.idempotencyWindowSeconds), paymentIdentifier: paid.proof.paymentIdentifier)
    }

    func deliveryEvents(_ paid: PaidFlow, answer: UpstreamResponse, consumed: Int, bodyDigest: String) -> [AuditEvent] {
        let flow = paid.flow, offer = paid.offer.offer
        var meter = ["unit": offer.unit, "consumed": String(consumed), "paid_quantity": String(offer.quantity), "source": "payment"]
        if let package = paid.pricing.metering.package {
            meter["source"] = "package_purchase"
            meter["package"] = package.name
        }
        return [
            flow.event(.meter, .ok, Reason("units_consumed"), clock: clock, meter),
            flow.event(.respond, .ok, .delivered, clock: clock, ["status": String(answer.status.code), "settled": "true",
                                                                 "body_sha256": bodyDigest,
                                                                 "bytes": String(answer.body.count)]),
        ]
    }

    func metering(_ paid: PaidFlow, consumed: Int) -> MeteringRecord {
        let offer = paid.offer.offer
        let usage = UsageEvent(correlationId: paid.flow.correlationId, clientId: paid.identity.clientId, payer: paid.proof.key.payer,
                               resource: paid.route.resource, unit: offer.unit, quantity: consumed, paidQuantity: offer.quantity,
                               source: .payment, amount: offer.amount.atomic, asset: offer.asset, atMillis: clock.nowMillis())
        let grant = paid.pricing.metering.package.map {
            PackageGrant(clientId: paid.identity.clientId, package: $0.name, unit: offer.unit, units: offer.quantity)
        }
        return MeteringRecord(usage: usage, grant: grant)
    }

    /// The holds a payment needs: one per spend cap on its asset and one per quota on its unit (client
    /// and organisation limits only for identified clients: all anonymous callers are not one spender).
    func spendHolds(identity: Identity, payer: String, offer: Offer) -> [SpendHold] {
        let now = clock.nowMillis()
        func subject(_ kind: SpendCap.Subject) -> String? {
            switch (kind, identity) {
            case (.client, .client(let client)): "client:\(client.id)"
            case (.organisation, .client(let client)): client.organisation.map { "organisation:\($0)" }
            case (.payer, _): "payer:\(payer.lowercased())"
            default: nil
            }
        }
        let spend = settings.spendCaps.compactMap { cap -> SpendHold? in
            guard cap.network == offer.network, cap.asset == offer.asset, let subject = subject(cap.subject) else { return nil }
            return SpendHold(subject: subject, bucket: "\(cap.network)/\(cap.asset)/\(cap.period.rawValue):\(cap.period.key(millis: now))",
                             amount: offer.amount, maximum: cap.maximum)
        }
        let units = settings.quotas.compactMap { quota -> SpendHold? in
            guard quota.unit == offer.unit, let subject = subject(quota.subject) else { return nil }
            return SpendHold(subject: subject, bucket: "\(Quota.bucketPrefix)\(quota.unit)/\(quota.period.rawValue):\(quota.period.key(millis: now))",
                             amount: TokenAmount(atomic: String(offer.quantity))!, maximum: TokenAmount(atomic: String(quota.maximum))!)
        }
        return spend + units
    }
}

/// Everything the delivery steps of one paid flow need.
struct PaidFlow: Sendable {
    var request: GatewayRequest
    var route: Route
    /// The terms quoted for this request.
    var pricing: Route.Pricing
    var identity: Identity
    var proof: PaymentProof
    var offer: SignedOffer
    var flow: Flow
}

/// How a charge attempt ended.
enum PaidCharge: Sendable {
    case settled(Settlement, [AuditEvent])
    /// Pending, unknown, failed or suspended: the answer to send (the reservation is already finished).
    case stopped(GatewayResponse)

    /// The answer of a charge that did not settle (a settled charge is answered by delivery instead).
    var stoppedResponse: GatewayResponse {
        if case .stopped(let response) = self { return response }
        return GatewayResponse(status: .serviceUnavailable)
    }
}

/// How forwarding a paid request ended.
enum PaidDelivery: Sendable {
    /// Consumed: the (filtered) answer and the units it consumed.
    case delivered(answer: UpstreamResponse, consumed: Int, events: [AuditEvent])
    /// Not consumed: the upstream's own answer when it gave one, and why.
    case failed(answer: UpstreamResponse?, reason: Reason, detail: String, events: [AuditEvent])
}
