import Crypto
import HTTPTypes

extension Gateway {
    /// The same proof, for the same offer (so the same client and the same request), presented again while its
    /// claim is not finished: the first request is still running, or a crash, a timeout or a lost answer left
    /// it in doubt. Never a fresh 402 here: a 402 makes stock clients sign and pay again.
    ///
    /// Returns nil when the claim is simply spent (settled and delivered): the caller then answers as for any
    /// replay (the stored answer for its owner, or a refusal).
    func retryOfClaim(_ paid: PaidFlow, state: Reservation.State, events: [AuditEvent]) async -> GatewayResponse? {
        // The caller holds `key` in flight, so no live request of this process works on the claim.
        let key = paid.proof.key, flow = paid.flow
        if state == .reserved {
            // Claimed by a process that stopped before asking to settle: nothing moved, the caller takes it over.
            return nil
        }
        let found: OpenSettlement?
        do {
            found = try await store.openSettlement(key)
        } catch {
            return await unavailable(.storeUnavailable, flow: flow, detail: "the gateway cannot read this payment's state right now; retry later", events: events)
        }
        guard var open = found else {
            // No intent: a claim from before intents were recorded, or a settled claim of the ordinary kind.
            if [.settling, .pending, .unknown].contains(state) {
                return await inProgress(flow, events: events, detail: "this payment's settlement is not confirmed yet; retry later, do not pay again")
            }
            return nil
        }
        if open.outcome == .open {
            open = await resolve(open, actor: "retry")
        }
        switch open.outcome {
        case .open:
            return await inProgress(flow, events: events, detail: "this payment's settlement could not be confirmed yet; it is held for reconciliation; "
                                        + "send the same proof again later, do not pay again")
        case .failed:
            return await refuse(paid.request, paid.route, paid.pricing, paid.identity, .settlementFailed, flow: flow, events: events,
                                detail: "the settlement of this authorization was refused; nothing was charged")
        case .refunded, .review:
            return await undeliverable(open, flow: flow, events: events)
        case .settled where open.delivered:
            return nil
        case .settled:
            if let stored = try? await store.storedResponse(key, now: clock.nowSeconds), stored.correlationId == flow.correlationId {
                return await replayResolved(stored, open: open, paid: paid, events: events)
            }
            guard open.intent.redeliverable else {
                _ = await refundOrReview(open, actor: "retry")
                let updated = (try? await store.openSettlement(key)) ?? open
                return await undeliverable(updated, flow: flow, events: events)
            }
            return await redeliver(paid, open: open, events: events)
        }
    }

    func inProgress(_ flow: Flow, events: [AuditEvent], detail: String) async -> GatewayResponse {
        var events = events
        events.append(flow.event(.reserve, .denied, Reason("payment_in_progress"), clock: clock, ["detail": detail]))
        return await unavailable(Reason("payment_in_progress"), flow: flow, detail: detail, events: events)
    }

    /// The answer prepared before settlement, made available by its resolution: delivered once to this retry.
    private func replayResolved(_ stored: StoredResponse, open: OpenSettlement, paid: PaidFlow, events: [AuditEvent]) async -> GatewayResponse {
        let flow = paid.flow
        var events = events
        events.append(flow.event(.reserve, .ok, Reason("settlement_resolved"), clock: clock, ["transaction": open.transaction ?? ""]))
        events.append(flow.event(.respond, .ok, .delivered, clock: clock, [
            "status": String(stored.status), "settled": "true", "source": "prepared_answer",
            "body_sha256": HexString.encode(SHA256.hash(data: stored.body)), "bytes": String(stored.body.count),
        ]))
        do {
            try await store.resolveSettlement(open.intent.key, outcome: .settled, delivered: true, events: events)
        } catch {
            return await deny(.serviceUnavailable, "service_unavailable", .respond, .storeUnavailable, flow: flow,
                              detail: "the gateway cannot record this delivery right now; retry later")
        }
        var response = await replayed(stored, route: paid.route, identity: paid.identity, flow: flow)
        response.settledFlow = flow.correlationId
        return response
    }

    /// Forwards the request again under the same correlation id (the upstream sees the same
    /// `Tollgate-Correlation-Id` and can tell), for a payment that settled without its answer being delivered.
    private func redeliver(_ paid: PaidFlow, open: OpenSettlement, events: [AuditEvent]) async -> GatewayResponse {
        let flow = paid.flow
        var events = events
        events.append(flow.event(.reserve, .ok, Reason("redelivery"), clock: clock, ["transaction": open.transaction ?? ""]))
        switch await forward(paid, events: events) {
        case .failed(let answer, let reason, let detail, let events):
            // Still settled and undelivered: the client may retry again; the reconciler refunds it in the end.
            await appendDurably(events + [flow.event(.respond, .denied, reason, clock: clock, ["settled": "true", "redelivery": "failed"])])
            if let answer {
                return await passedOn(answer, route: paid.route, identity: paid.identity, flow: flow)
            }
            return await deny(.badGateway, "bad_gateway", .respond, reason, flow: flow,
                              detail: "\(detail); the payment is settled: send the same proof again later, do not pay again", durable: true)
        case .delivered(let answer, let consumed, var events):
            let settlement = Settlement(status: .settled, transaction: open.transaction ?? "", network: open.intent.key.network, payer: open.intent.key.payer)
            let (response, stored) = receipt(paid, answer: answer, settlement: settlement)
            events.append(contentsOf: deliveryEvents(paid, answer: answer, consumed: consumed,
                                                     bodyDigest: HexString.encode(SHA256.hash(data: answer.body))))
            do {
                try await store.recordDelivery(paid.proof.key, response: stored, metering: metering(paid, consumed: consumed), events: events)
            } catch {
                return await deny(.serviceUnavailable, "service_unavailable", .respond, .storeUnavailable, flow: flow,
                                  detail: "the payment is settled but the delivery could not be recorded; retry later")
            }
            return response
        }
    }

    /// A settled payment that will not be delivered: its refund, or the review it waits for.
    private func undeliverable(_ open: OpenSettlement, flow: Flow, events: [AuditEvent]) async -> GatewayResponse {
        await appendDurably(events)
        let refund = try? await store.refunds(state: nil, correlationId: open.intent.correlationId, limit: 1).first
        let owed = refund.map { "refund \($0.id) (\($0.amount) \($0.asset)) is recorded" } ?? "it is held for review by the operator; support can trace this flow"
        var response = await deny(.badGateway, "bad_gateway", .respond, Reason("not_delivered"), flow: flow,
                                  detail: "the payment settled (\(open.transaction ?? "transaction unknown")) but its answer was lost and this "
                                      + "request must not run twice; \(owed)", extra: ["refund_id": refund?.id ?? ""], durable: true)
        if let refund { response.headerFields[.tollgateRefund] = refund.id }
        return response
    }
}
