import Logging

extension Gateway {
    /// A door could not deliver a settled answer (the connection failed after settlement, the result could not be
    /// read). When the answer is kept and its owner can fetch it again (an identified client, or a payment naming
    /// itself with a `payment-identifier`), the flow becomes settled and undelivered again: the owner's retry of the
    /// same proof gets the kept answer, and the reconciler refunds it (or holds it for review) if nobody comes back
    /// within the idempotency window. Otherwise, with automatic refunds on, the payment becomes a `pending_payout`
    /// refund at once, and a retry of the proof is told of the refund, never served the answer too
    /// (`RefundLedger.refund`). Either way the failure is audited (`respond`/`connection_failed`).
    public func undelivered(correlationId: String, detail: String) async {
        func failed(_ outcome: String) -> AuditEvent {
            AuditEvent(correlationId: correlationId, timeMillis: clock.nowMillis(), stage: .respond, outcome: .error,
                       reason: Reason.connectionFailed.rawValue, details: ["detail": detail, "settled": "true", "then": outcome])
        }
        do {
            if try await store.reopenDelivery(correlationId: correlationId, nowSeconds: clock.nowSeconds, events: [failed("kept_for_retry")]) {
                logger.notice("settled answer not delivered; kept for the client's retry", metadata: ["tollgate.correlation_id": "\(correlationId)"])
                return
            }
        } catch {
            logger.error("settled answer not delivered; could not keep it for a retry", metadata: [
                "tollgate.correlation_id": "\(correlationId)", "tollgate.error": "\(error)",
            ])
        }
        await appendDurably([failed(settings.automaticRefunds ? "refunded" : "review")])
        guard settings.automaticRefunds else { return }
        do {
            let refund = try await store.refund(RefundRequest(correlationId: correlationId, reason: "not delivered: \(Reason.connectionFailed.rawValue)",
                                                              actor: "tollgate", automatic: true), nowMillis: clock.nowMillis())
            logger.warning("settled answer not delivered; refund recorded", metadata: [
                "tollgate.correlation_id": "\(correlationId)", "tollgate.refund": "\(refund.id)",
            ])
        } catch {
            logger.critical("settled answer not delivered and no refund recorded", metadata: [
                "tollgate.correlation_id": "\(correlationId)", "tollgate.error": "\(error)",
            ])
        }
    }
}
