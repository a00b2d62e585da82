import HTTPTypes
import Logging

extension Gateway {
    /// Sends `/settle` for the journey (`Journey.Action.settle`): not while the incident switch is on for the
    /// resource; the intent (which authority, which exact body, the answer already produced) is committed before
    /// each attempt is sent, so a crash, a timeout or an unreadable answer leaves a record the reconciler and the
    /// client's retry can resolve. Reports what happened; the machine decides what it means.
    /// How `/settle` went, and how long of it was the gateway's own work (writing the intent) rather than waiting for
    /// the facilitator (`RequestTimings`).
    func settle(_ paid: PaidFlow, intent: SettlementIntent, events: [AuditEvent]) async -> (Journey.SettleOutcome, ownWork: Duration) {
        if let incident = controls.incident(for: paid.route.resource) { return (.suspended(incident: incident.id), .zero) }
        let recorded = RecordedAttempt()
        let flow = paid.flow, clock = self.clock, store = self.store
        do {
            let settlement = try await rail.settle(paid.proof, offer: paid.offer, before: { attempt in
                var next = intent
                next.attempt = attempt
                // The flow's events so far are committed with the first intent; a later attempt says why it moved on.
                let said = flow.event(.settle, .received, Reason("settle_intent"), clock: clock, ["authority": attempt.authority])
                let begun = ContinuousClock.now
                try await store.recordSettlementIntent(next, events: recorded.value == nil ? events + [said] : [said])
                recorded.set(attempt, writing: ContinuousClock.now - begun)
            }, logger: logger)
            return (.answered(settlement, attempt: recorded.value), recorded.writing)
        } catch let failure as RailFailure {
            return (.railFailed(failure, intentRecorded: recorded.value != nil), recorded.writing)
        } catch {
            return (.intentNotRecorded(Journey.Failure(error), intentRecorded: recorded.value != nil), recorded.writing)
        }
    }

    /// The rail's receipt of an answered settlement.
    func receipt(of outcome: Journey.SettleOutcome) -> HTTPFields {
        guard case .answered(let settlement, _) = outcome else { return [:] }
        return rail.receiptFields(settlement)
    }

    /// The rail's receipt of a settlement found settled (a redelivery is served with it).
    func receipt(of open: OpenSettlement?) -> HTTPFields {
        guard let open, open.outcome == .settled else { return [:] }
        return rail.receiptFields(Settlement(status: .settled, transaction: open.transaction ?? "", network: open.intent.key.network,
                                             payer: open.intent.key.payer))
    }

    /// What asking again found out.
    enum SettlementVerdict: Sendable, Hashable {
        /// Settled; the transaction when known (it is the evidence a refund needs), and who said so.
        case settled(transaction: String?, source: String)
        /// Nothing moved and nothing will: the reservation ends.
        case failed(Reason, detail: String)
        case unknown(detail: String)
    }

    /// Resolves a settlement left `settling`, `pending` or `unknown`: the same facilitator is asked to settle the
    /// same body again, and the chain is read where an RPC URL is configured. Success, or
    /// `nonce_already_used` after our own attempt, counts as settled unless the chain shows the authorization
    /// was cancelled. The outcome is recorded and audited under the flow's correlation id. The one resolution: the
    /// journey's `resolve` action (a client's retry) and `reconcile` both call it.
    func resolve(_ open: OpenSettlement, actor: String) async -> OpenSettlement {
        let intent = open.intent
        let rail = rail(named: intent.payment.rail)
        let verdict = await verdict(intent, rail: rail)
        var resolved = open
        let flow = Flow(correlationId: intent.correlationId, now: clock.nowMillis(), clientId: intent.payment.clientId,
                        resource: intent.payment.resource)
        do {
            switch verdict {
            case .settled(let transaction, let source):
                var payment = intent.payment
                payment.transaction = transaction ?? ""
                payment.settledAtMillis = clock.nowMillis()
                let settlement = Settlement(status: .settled, transaction: transaction ?? "", network: intent.key.network, payer: intent.key.payer)
                let response = intent.response.map { prepared -> StoredResponse in
                    prepared.receipted(rail.receiptFields(settlement), expiresAt: clock.nowSeconds + Int64(settings.idempotencyWindowSeconds))
                }
                let event = flow.event(.settle, .ok, Reason("settlement_resolved"), clock: clock, [
                    "transaction": transaction ?? "", "source": source, "actor": actor, "network": intent.key.network,
                    "asset": intent.payment.asset, "amount": intent.payment.amount, "evidence": transaction == nil ? "none" : "transaction",
                ])
                var events = [event]
                if let usage = intent.metering?.usage {
                    events.append(flow.event(.meter, .ok, Reason("units_consumed"), clock: clock, [
                        "unit": usage.unit, "consumed": String(usage.quantity), "paid_quantity": String(usage.paidQuantity), "source": "payment",
                    ]))
                }
                try await store.finish(intent.key, state: .settled, payment: payment, response: response, metering: intent.metering,
                                       delivery: nil, events: events)
                resolved.state = .settled
                resolved.outcome = .settled
                resolved.transaction = transaction
                resolved.intent.response = response
            case .failed(let reason, let detail):
                let event = flow.event(.settle, .denied, reason, clock: clock, ["detail": detail, "actor": actor, "settled": "false"])
                try await store.finish(intent.key, state: .failed, payment: nil, events: [event])
                // Another resolution may have settled it meanwhile (its `/settle` landing is what this one was refused for):
                // the store keeps a settled outcome, and what it kept is what the retry is answered with, never a 402.
                if let kept = try await store.openSettlement(intent.key), kept.outcome == .settled { return kept }
                resolved.state = .failed
                resolved.outcome = .failed
            case .unknown(let detail):
                // Audited when the state changes (an abandoned `settling` claim); every later attempt only logs.
                if open.state != .unknown {
                    let event = flow.event(.settle, .error, .settlementUnknown, clock: clock, ["detail": detail, "actor": actor])
                    try await store.finish(intent.key, state: .unknown, payment: nil, events: [event])
                }
                // As for a refusal: another resolution's `/settle` that landed may be why this one could not tell.
                if let kept = try await store.openSettlement(intent.key), kept.outcome == .settled { return kept }
                resolved.state = .unknown
                logger.warning("settlement still unknown", metadata: ["tollgate.correlation_id": "\(intent.correlationId)", "tollgate.detail": "\(detail)"])
            }
        } catch {
            logger.error("settlement outcome not recorded", metadata: ["tollgate.correlation_id": "\(intent.correlationId)", "tollgate.error": "\(error)"])
            return open
        }
        return resolved
    }

    private func verdict(_ intent: SettlementIntent, rail: any PaymentRail) async -> SettlementVerdict {
        do {
            let settlement = try await rail.resettle(intent.attempt, logger: logger)
            switch settlement.status {
            case .settled:
                return .settled(transaction: settlement.transaction.isEmpty ? nil : settlement.transaction, source: "facilitator")
            case .pending:
                // A facilitator that says "pending" for ever would hold the flow for ever: the chain, where it can be read, ends it.
                return await chainVerdict(intent, rail: rail, otherwise: "the facilitator says the settlement is still pending (\(settlement.transaction))")
            case .failed where settlement.errorReason == rail.wire.authorizationUsed.rawValue:
                // Our own earlier `/settle` most likely spent it; only the chain can say it was cancelled or spent elsewhere
                // instead. Without a chain reader the facilitator's word is taken (the documented trade); a reader that
                // cannot answer decides nothing.
                switch await readChain(intent, rail: rail) {
                case .noReader: return .settled(transaction: nil, source: "facilitator_nonce_used")
                case .failed(let why): return .unknown(detail: "the facilitator says the nonce is used; the chain reader could not say what it paid (\(why))")
                case .read(.unused): return .unknown(detail: "the facilitator says the nonce is used, the chain says it is not")
                case .read(let state): return Self.verdict(state, intent: intent, otherwise: "")
                }
            case .failed:
                let reason = settlement.errorReason ?? Reason.settlementFailed.rawValue
                guard SettlementRefusal.nothingMoved(reason, resent: true) else {
                    // The first attempt landing would itself make this refusal (its window passed, its transfer spent the
                    // balance): only the chain can say nothing moved.
                    return await chainVerdict(intent, rail: rail, otherwise: "the facilitator refused the same settlement again (\(reason)), which an "
                                              + "earlier attempt that landed would also cause", refusal: (reason, settlement.errorMessage))
                }
                return .failed(Reason(reason), detail: settlement.errorMessage ?? "refused by the facilitator")
            }
        } catch {
            return await chainVerdict(intent, rail: rail, otherwise: "\(error)")
        }
    }

    /// What the chain says, where a rail reads it: used for this payment is settled; spent elsewhere, cancelled, or unused
    /// at a block past the authorization's validBefore is failed (with `refusal`'s reason when the facilitator gave one);
    /// anything else (unused before then, no reader, a reader that fails) leaves it unknown with `otherwise`.
    private func chainVerdict(_ intent: SettlementIntent, rail: any PaymentRail, otherwise: String,
                              refusal: (reason: String, message: String?)? = nil) async -> SettlementVerdict {
        switch await readChain(intent, rail: rail) {
        case .noReader: return .unknown(detail: otherwise + "; no chain reader can tell (settlement.rpc)")
        case .failed(let why): return .unknown(detail: otherwise + "; the chain reader could not tell (\(why))")
        case .read(let state):
            if case .unused = state, state.neverMoves(validBefore: intent.validBefore), let refusal {
                return .failed(Reason(refusal.reason), detail: refusal.message ?? "refused by the facilitator; the chain shows it expired unused")
            }
            return Self.verdict(state, intent: intent, otherwise: otherwise + "; the chain shows it unused so far, and an earlier attempt may "
                                + "still land before it expires")
        }
    }

    /// A chain reading as a verdict (`chainVerdict`), the facilitator's word aside.
    private static func verdict(_ state: ChainAuthorization, intent: SettlementIntent, otherwise: String) -> SettlementVerdict {
        switch state {
        case .used(let transaction): return .settled(transaction: transaction, source: "chain")
        case .usedElsewhere(let transaction): return spentElsewhere(transaction)
        case .cancelled: return .failed(Reason("authorization_cancelled"), detail: "the payer cancelled the authorization")
        case .unused where state.neverMoves(validBefore: intent.validBefore):
            return .failed(Reason("authorization_expired"), detail: "the chain shows the authorization expired unused; nothing moved")
        case .unused: return .unknown(detail: otherwise)
        }
    }

    /// What reading the chain gave: no reader for the network, a reader that failed (never taken for an answer), or a state.
    private enum ChainReading {
        case noReader
        case failed(String)
        case read(ChainAuthorization)
    }

    /// What the chain says of the intent's authorization, as the payment it records (its payee and amount), spent no
    /// earlier than the intent: it is recorded before the first `/settle` is sent. (The authorization's validAfter is no
    /// later bound: the gateway settles only an authorization whose window has opened.)
    private func readChain(_ intent: SettlementIntent, rail: any PaymentRail) async -> ChainReading {
        do {
            guard let state = try await rail.chainAuthorization(intent.key, payee: intent.payment.payee, amount: intent.payment.amount,
                                                                since: intent.createdAtMillis / 1000, logger: logger) else { return .noReader }
            return .read(state)
        } catch {
            logger.warning("the chain reader could not answer", metadata: ["tollgate.correlation_id": "\(intent.correlationId)",
                                                                          "tollgate.error": "\(error)"])
            return .failed("\(error)")
        }
    }

    /// The nonce was spent by a transaction that paid nobody this payment names: the payer spent it first, elsewhere.
    private static func spentElsewhere(_ transaction: String?) -> SettlementVerdict {
        .failed(Reason("authorization_used_elsewhere"), detail: "the chain shows the authorization's nonce spent by \(transaction ?? "a transaction") "
                    + "that transferred nothing to the payee: nothing moved for this payment")
    }

    /// What became of a settled payment whose answer could not be delivered.
    enum UndeliveredOutcome: Sendable {
        case refunded(Refund)
        /// Listed for the operator's review, or its record could not be written (logged; the next pass tries again).
        case review
        /// No longer settled and undelivered when written (delivered, refunded or listed for review meanwhile, by another
        /// instance or an operator; or no intent to read): nothing was written.
        case settledMeanwhile
    }

    /// Lists a settled, undelivered payment for the operator's review (`tollgate reconcile`), while it is still so.
    func listForReview(_ open: OpenSettlement, detail: String, actor: String) async -> UndeliveredOutcome {
        let intent = open.intent
        let flow = Flow(correlationId: intent.correlationId, now: clock.nowMillis(), clientId: intent.payment.clientId,
                        resource: intent.payment.resource)
        let event = flow.event(.refund, .denied, Reason("manual_review"), clock: clock, ["detail": detail, "actor": actor])
        do {
            return try await store.holdForReview(intent.key, events: [event]) ? .review : .settledMeanwhile
        } catch {
            logger.error("settlement review not recorded", metadata: ["tollgate.correlation_id": "\(intent.correlationId)"])
            return .review
        }
    }

    /// `listForReview` of the settlement under `key`, as the store has it now (nothing when it cannot be read).
    func listForReview(_ key: ProofKey, detail: String, actor: String) async {
        guard let open = try? await store.openSettlement(key) else { return }
        _ = await listForReview(open, detail: detail, actor: actor)
    }

    /// A settled payment whose answer can no longer be delivered: an automatic refund where there is evidence
    /// that the money moved (a transaction), otherwise listed for review (`tollgate reconcile`); either only while it
    /// is still settled and undelivered. The journey's `refundOrReview` action and `reconcile` both call it.
    func refundOrReview(_ open: OpenSettlement, actor: String) async -> UndeliveredOutcome {
        let intent = open.intent
        guard settings.automaticRefunds, let transaction = open.transaction, !transaction.isEmpty else {
            let why = settings.automaticRefunds ? "no transaction proves the transfer" : "automatic refunds are off"
            return await listForReview(open, detail: "settled but not delivered; \(why)", actor: actor)
        }
        do {
            // Only while nothing delivered it: a retry may have served the kept answer since `open` was read (another instance).
            let refund = try await store.refund(RefundRequest(correlationId: intent.correlationId, reason: "not delivered: the answer was lost before settlement was known",
                                                              actor: "tollgate", automatic: true, onlyIfUndelivered: true), nowMillis: clock.nowMillis())
            try await store.resolveSettlement(intent.key, outcome: .refunded, delivered: false, events: [])
            return .refunded(refund)
        } catch let error as TollgateError where error.code == .delivered {
            logger.info("settled payment delivered meanwhile; no refund", metadata: ["tollgate.correlation_id": "\(intent.correlationId)", "tollgate.detail": "\(error.message)"])
            return .settledMeanwhile
        } catch let error as TollgateError where error.code == .unitsSpent {
            return await listForReview(open, detail: error.message, actor: actor)
        } catch {
            logger.critical("settled, undelivered and not refunded", metadata: ["tollgate.correlation_id": "\(intent.correlationId)", "tollgate.error": "\(error)"])
            return .review
        }
    }
}
