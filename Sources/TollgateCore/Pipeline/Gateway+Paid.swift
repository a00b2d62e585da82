import Crypto
import HTTPTypes
import Logging

extension Gateway {
    /// The paid path: offer check → local verification → reservation → facilitator verification →
    /// forward → settle (only after a delivered success) → respond. Cheapest checks first, so a
    /// forged or tampered proof never costs a store write or a facilitator call.
    func paid(_ request: GatewayRequest, route: Route, pricing: Route.Pricing, identity: Identity, proof: PaymentProof,
              flow: inout Flow) async -> GatewayResponse {
        let received = [
            "payer": proof.payer, "network": proof.network, "asset": proof.asset, "amount": proof.amount,
            "nonce": proof.nonce, "rail": proof.rail,
        ]
        guard let token = proof.accepted.offerToken else {
            return await refuse(request, route, pricing, identity, .offerMissing, flow: flow, received: received,
                                detail: "the proof does not echo a Tollgate offer; pay one of the offers of a fresh 402")
        }
        let offer: Offer
        switch settings.offers.verify(token) {
        case .failure:
            return await refuse(request, route, pricing, identity, .offerInvalid, flow: flow, received: received,
                                detail: "the echoed offer was not signed by this gateway")
        case .success(let signed):
            offer = signed
        }
        let signedOffer = SignedOffer(offer: offer, token: token)
        // The flow continues under the correlation id of the 402 that made the offer.
        flow.correlationId = offer.correlationId

        if let (reason, detail) = offerMismatch(offer, request: request, route: route, pricing: pricing, identity: identity, proof: proof) {
            return await refuse(request, route, pricing, identity, reason, flow: flow, received: received, detail: detail)
        }
        let now = clock.nowSeconds
        if case .invalid(let reason, let detail) = rail.verifyLocally(proof, offer: offer, now: now) {
            return await refuse(request, route, pricing, identity, reason, flow: flow, received: received, detail: detail)
        }

        let payerAddress = proof.payer.lowercased()
        if controls.isRevoked(payer: proof.payer) || settings.payerDenyList.contains(payerAddress)
            || settings.payerAllowList.map({ !$0.contains(payerAddress) }) ?? false {
            await audit.record(flow.event(.proof, .received, clock: clock, received))
            return await deny(.forbidden, "forbidden", .decide, .payerRevoked, flow: flow,
                              detail: "payments from this address are not accepted; nothing was charged")
        }
        if let refusal = settings.limits.admit(.paid, resource: route.resource, keys: [LimitKey("payer", payerAddress)],
                                               now: clock.nowSecondsPrecise) {
            return await tooMany(refusal, flow: flow)
        }
        var events = [
            flow.event(.proof, .received, clock: clock, received),
            flow.event(.verify, .ok, clock: clock, ["checks": "offer mac, expiry, client, request, terms, signature, amount, payee, time window"]),
        ]
        guard rail.isReady(network: proof.network) else {
            events.append(flow.event(.facilitatorVerify, .error, .facilitatorUnavailable, clock: clock, ["detail": "no facilitator is ready for \(proof.network)"]))
            return await unavailable(.facilitatorUnavailable, flow: flow, detail: "payment verification is unavailable; retry later", events: events)
        }

        // Single use: the claim is committed before anything is forwarded.
        let reservation = Reservation(key: proof.key, correlationId: flow.correlationId, clientId: identity.clientId,
                                      resource: route.resource, validBefore: Int64(proof.validBefore) ?? Int64.max,
                                      paymentIdentifier: proof.paymentIdentifier, fingerprint: flow.proofDigest.map(HexString.encode) ?? "",
                                      offerToken: token, payload: String(decoding: proof.raw, as: UTF8.self))
        events.append(flow.event(.reserve, .ok, clock: clock, ["proof": proof.key.description]))
        do {
            switch try await store.reserve(reservation, events: events) {
            case .reserved:
                events.removeAll()
            case .alreadyClaimed(let first, let state):
                events.removeLast()
                // Only an identified client, or one naming the payment with its `payment-identifier`, is
                // recognised as the same caller; an anonymous bare replay stays refused.
                let recognised = proof.paymentIdentifier != nil || identity != .anonymous
                if state == .settled, recognised, let stored = try? await store.storedResponse(proof.key, now: clock.nowSeconds),
                   stored.clientId == identity.clientId, stored.request == request.requestLine {
                    return await replayStored(stored, flow: flow, events: events)
                }
                events.append(flow.event(.reserve, .denied, .nonceAlreadyUsed, clock: clock,
                                         ["first_correlation_id": first, "first_state": state.rawValue, "proof": proof.key.description]))
                return await refuse(request, route, pricing, identity, .nonceAlreadyUsed, flow: flow, events: events,
                                    detail: "this payment authorization was already used (flow \(first))")
            case .identifierConflict(let first):
                events.removeLast()
                events.append(flow.event(.reserve, .denied, .paymentIdentifierConflict, clock: clock, ["first_correlation_id": first]))
                await appendDurably(events)
                return await deny(.conflict, "conflict", .respond, .paymentIdentifierConflict, flow: flow,
                                  detail: "this payment-identifier was already used for a different payment (flow \(first)); nothing was charged",
                                  durable: true)
            case .offerAlreadyUsed(let state):
                events.removeLast()
                events.append(flow.event(.reserve, .denied, .offerAlreadyUsed, clock: clock, ["offer_state": state.rawValue]))
                return await refuse(request, route, pricing, identity, .offerAlreadyUsed, flow: flow, events: events,
                                    detail: "this offer was already paid by another authorization; pay the fresh offer instead")
            }
        } catch {
            events.removeLast()
            events.append(flow.event(.reserve, .error, .storeUnavailable, clock: clock, ["detail": "\(error)"]))
            return await unavailable(.storeUnavailable, flow: flow, detail: "the gateway cannot record payments right now", events: events)
        }
        return await verifiedAndReserved(request, route: route, pricing: pricing, identity: identity, proof: proof, offer: signedOffer, flow: flow)
    }

    private func verifiedAndReserved(_ request: GatewayRequest, route: Route, pricing: Route.Pricing, identity: Identity,
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

        let holds = spendHolds(identity: identity, payer: proof.payer, offer: offer)
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

        let contract = ContractSigner.Contract(
            client: identity.clientId, payer: proof.payer, amount: "\(offer.amount) \(offer.asset)@\(offer.network)",
            unit: "\(offer.unit)=\(offer.quantity)", correlationId: flow.correlationId, timestamp: clock.nowSeconds)
        let started = clock.nowMillis()
        var answer: UpstreamResponse
        do {
            answer = try await upstream.send(upstreamRequest(request, contract: contract))
        } catch {
            events.append(flow.event(.forward, .error, .upstreamUnavailable, clock: clock, ["detail": "\(error)"]))
            await release(proof, events: events)
            return await deny(.badGateway, "bad_gateway", .respond, .upstreamUnavailable, flow: flow,
                              detail: "the upstream did not answer; nothing was charged", durable: true)
        }
        let latency = String(clock.nowMillis() - started)
        guard answer.status.code < 400 else {
            // Not delivered, so not settled: the same proof may be presented again.
            events.append(flow.event(.forward, .ok, .upstreamRefused, clock: clock, ["status": String(answer.status.code), "latency_ms": latency]))
            events.append(flow.event(.respond, .denied, .upstreamRefused, clock: clock, ["status": String(answer.status.code), "settled": "false"]))
            await release(proof, events: events)
            return GatewayResponse(status: answer.status, headerFields: HopByHop.response(answer.headerFields), body: answer.body)
        }
        events.append(flow.event(.forward, .ok, clock: clock, ["status": String(answer.status.code), "latency_ms": latency]))
        if let rule = route.privateFields, !identity.holds(rule.scope) {
            guard let filtered = JSONFieldFilter.strip(answer.body, fields: rule.fields) else {
                // Private data that cannot be filtered is not delivered, and what is not delivered is not charged.
                events.append(flow.event(.decide, .denied, Reason("unfilterable_response"), clock: clock, ["settled": "false"]))
                await release(proof, events: events)
                return await deny(.badGateway, "bad_gateway", .respond, Reason("unfilterable_response"), flow: flow,
                                  detail: "the response could not be filtered for this client; nothing was charged", durable: true)
            }
            answer.body = filtered.body
            if filtered.removed > 0 {
                events.append(flow.event(.decide, .ok, Reason("private_fields_removed"), clock: clock,
                                         ["fields": rule.fields.sorted().joined(separator: ","), "removed": String(filtered.removed)]))
            }
        }
        return await settle(proof, answer: answer, route: route, identity: identity, offer: signed, flow: flow, events: events)
    }

    private func settle(_ proof: PaymentProof, answer: UpstreamResponse, route: Route, identity: Identity,
                        offer signed: SignedOffer, flow: Flow, events: [AuditEvent]) async -> GatewayResponse {
        let offer = signed.offer
        var events = events
        if let incident = controls.incident(for: route.resource) {
            // The switch went on while this request was in flight: deliver nothing, settle nothing.
            events.append(flow.event(.settle, .denied, .incident, clock: clock, ["incident": incident.id, "settled": "false"]))
            await release(proof, events: events)
            return await deny(.serviceUnavailable, "service_unavailable", .respond, .incident, flow: flow,
                              detail: "payments are suspended (incident \(incident.id)); nothing was charged", extra: ["incident": incident.id],
                              durable: true)
        }
        var settlement: Settlement
        do {
            settlement = try await rail.settle(proof, offer: signed, logger: logger)
            if settlement.status == .pending {
                // Not final: ask once more with the identical proof, never with a fresh 402 (the client would pay twice).
                events.append(flow.event(.settle, .error, .settlementPending, clock: clock, ["transaction": settlement.transaction]))
                settlement = try await rail.settle(proof, offer: signed, logger: logger)
            }
        } catch {
            events.append(flow.event(.settle, .error, .settlementUnknown, clock: clock, ["detail": "\(error)"]))
            return await finishUnavailable(proof, state: .unknown, reason: .settlementUnknown, flow: flow, events: events,
                                           detail: "settlement could not be confirmed; the payment is held for reconciliation")
        }

        switch settlement.status {
        case .settled:
            let bodyDigest = HexString.encode(SHA256.hash(data: answer.body))
            events.append(flow.event(.settle, .ok, clock: clock, ["transaction": settlement.transaction, "network": settlement.network,
                                                                  "asset": offer.asset, "amount": offer.amount.atomic]))
            events.append(flow.event(.respond, .ok, .delivered, clock: clock, ["status": String(answer.status.code), "settled": "true",
                                                                               "body_sha256": bodyDigest, "bytes": String(answer.body.count)]))
            let payment = PaymentRecord(
                correlationId: flow.correlationId, rail: proof.rail, network: proof.network, asset: proof.asset.lowercased(),
                payer: proof.payer.lowercased(), payee: proof.payee.lowercased(), amount: proof.amount, nonce: proof.nonce.lowercased(),
                transaction: settlement.transaction, clientId: identity.clientId, resource: route.resource,
                unit: offer.unit, quantity: offer.quantity, settledAtMillis: clock.nowMillis(), bodySHA256: bodyDigest)
            var fields = HopByHop.response(answer.headerFields)
            fields.append(contentsOf: rail.receiptFields(settlement, proof: proof))
            fields[.cacheControl] = "private"
            let stored = answer.body.count > settings.maxStoredResponseBytes ? nil : StoredResponse(
                correlationId: flow.correlationId, clientId: identity.clientId, request: offer.request, status: answer.status.code,
                headers: fields.map { [$0.name.rawName, $0.value] }, body: answer.body,
                expiresAt: clock.nowSeconds + Int64(settings.idempotencyWindowSeconds))
            do {
                try await store.finish(proof.key, state: .settled, payment: payment, response: stored, events: events)
            } catch {
                // The money moved but the ledger could not record it: do not serve what is not recorded.
                logger.critical("settled payment not recorded", metadata: [
                    "tollgate.correlation_id": "\(flow.correlationId)", "x402.transaction": "\(settlement.transaction)", "tollgate.error": "\(error)",
                ])
                return await deny(.serviceUnavailable, "service_unavailable", .respond, .storeUnavailable, flow: flow,
                                  detail: "the payment settled (\(settlement.transaction)) but could not be recorded; support can trace this flow")
            }
            return GatewayResponse(status: answer.status, headerFields: fields, body: answer.body)
        case .pending:
            events.append(flow.event(.settle, .error, .settlementPending, clock: clock, ["transaction": settlement.transaction]))
            return await finishUnavailable(proof, state: .pending, reason: .settlementPending, flow: flow, events: events,
                                           detail: "settlement is still pending (\(settlement.transaction)); the payment is held, do not pay again")
        case .failed:
            let reason = Reason(settlement.errorReason ?? Reason.settlementFailed.rawValue)
            events.append(flow.event(.settle, .denied, reason, clock: clock, ["detail": settlement.errorMessage ?? ""]))
            events.append(flow.event(.respond, .denied, .settlementFailed, clock: clock, ["status": "402", "settled": "false"]))
            do {
                try await store.finish(proof.key, state: .failed, payment: nil, events: events)
            } catch {
                logger.error("settlement failure not recorded", metadata: ["tollgate.correlation_id": "\(flow.correlationId)"])
            }
            var fields = rail.receiptFields(settlement, proof: proof)
            fields[.cacheControl] = "no-store"
            return GatewayResponse(status: .paymentRequired, headerFields: fields)
        }
    }

    /// The holds a payment needs: one per spend cap on its asset and one per quota on its unit (client
    /// and organisation limits only for identified clients: all anonymous callers are not one spender).
    private func spendHolds(identity: Identity, payer: String, offer: Offer) -> [SpendHold] {
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

    /// The same client retrying the same proof for the same request: its response was lost, so it
    /// gets the stored one (receipt included) and nothing is settled again.
    private func replayStored(_ stored: StoredResponse, flow: Flow, events: [AuditEvent]) async -> GatewayResponse {
        var events = events
        events.append(flow.event(.reserve, .ok, Reason("idempotent_retry"), clock: clock, ["first_correlation_id": stored.correlationId]))
        events.append(flow.event(.respond, .ok, Reason("stored_response"), clock: clock, ["status": String(stored.status), "settled": "earlier"]))
        // Paid content is never served without its audit record, a replayed one included.
        guard await appendDurably(events) else {
            return await deny(.serviceUnavailable, "service_unavailable", .respond, .storeUnavailable, flow: flow,
                              detail: "the gateway cannot record this delivery right now; retry later")
        }
        var fields = HTTPFields()
        for pair in stored.headers where pair.count == 2 {
            if let name = HTTPField.Name(pair[0]) { fields.append(HTTPField(name: name, value: pair[1])) }
        }
        fields[.tollgateCorrelationId] = stored.correlationId
        return GatewayResponse(status: HTTPResponse.Status(code: stored.status), headerFields: fields, body: stored.body)
    }

    private func finishUnavailable(_ proof: PaymentProof, state: Reservation.State, reason: Reason, flow: Flow,
                                   events: [AuditEvent], detail: String) async -> GatewayResponse {
        do {
            try await store.finish(proof.key, state: state, payment: nil, events: events)
        } catch {
            logger.error("settlement state not recorded", metadata: ["tollgate.correlation_id": "\(flow.correlationId)"])
        }
        return await deny(.serviceUnavailable, "service_unavailable", .respond, reason, flow: flow, detail: detail, durable: true)
    }

    private func release(_ proof: PaymentProof, events: [AuditEvent]) async {
        do {
            try await store.release(proof.key, events: events)
        } catch {
            // The claim stays: the proof cannot be reused until it expires, which fails safe.
            logger.error("reservation not released", metadata: ["tollgate.proof": "\(proof.key)", "tollgate.error": "\(error)"])
        }
    }

    /// A refused proof: audited, then a fresh 402 whose `error` is the reason. The fresh offer opens a
    /// new flow (a new correlation id), linked both ways in the audit trail.
    func refuse(_ request: GatewayRequest, _ route: Route, _ pricing: Route.Pricing, _ identity: Identity, _ reason: Reason,
                        flow: Flow, received: [String: String]? = nil, events: [AuditEvent] = [], alreadyAudited: Bool = false,
                        detail: String) async -> GatewayResponse {
        _ = settings.limits.admit(.invalid, resource: route.resource, keys: flow.limitKeys, now: clock.nowSecondsPrecise)
        if let digest = flow.proofDigest { settings.invalidProofs.remember(digest, reason: reason, now: clock.nowSecondsPrecise) }
        var next = flow
        next.correlationId = CorrelationId.make()
        var all = events
        if events.isEmpty && !alreadyAudited {
            if let received { all.append(flow.event(.proof, .received, clock: clock, received)) }
            all.append(flow.event(.verify, .denied, reason, clock: clock, ["detail": detail]))
        }
        if !all.isEmpty { all[all.count - 1].details["next_correlation_id"] = next.correlationId }
        for event in all { await audit.record(event) }
        return await offer(request, route: route, pricing: pricing, identity: identity, reason: reason, flow: next, detail: detail,
                           previous: flow.correlationId)
    }

    /// Whether the echoed offer fits this request, this client and the current price.
    private func offerMismatch(_ offer: Offer, request: GatewayRequest, route: Route, pricing: Route.Pricing, identity: Identity,
                               proof: PaymentProof) -> (Reason, String)? {
        if offer.expiresAt < clock.nowSeconds {
            return (.offerExpired, "the offer expired at \(ISO8601.format(seconds: offer.expiresAt))")
        }
        if offer.client != identity.clientId {
            return (.offerClientMismatch, "the offer was made to another client")
        }
        if offer.resource != route.resource || offer.request != request.requestLine
            || offer.bodyDigest != RequestTarget.bodyDigest(request.body) {
            return (.offerResourceMismatch, "the offer was made for another request (\(offer.request))")
        }
        let accepted = proof.accepted
        let termsMatch = accepted.network == offer.network && accepted.asset.lowercased() == offer.asset
            && TokenAmount(atomic: accepted.amount) == offer.amount && accepted.payTo.lowercased() == offer.payTo
            && (accepted.maxTimeoutSeconds == nil || accepted.maxTimeoutSeconds == offer.maxTimeoutSeconds)
        let stillOffered = pricing.accepts.contains {
            $0.asset.network == offer.network && $0.asset.address.lowercased() == offer.asset
                && $0.amount == offer.amount && $0.payTo.lowercased() == offer.payTo
        }
        if !termsMatch || !stillOffered {
            return (.offerTermsMismatch, "the accepted terms differ from the offer or from the current price")
        }
        return nil
    }
}
