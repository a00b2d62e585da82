import Logging

extension Gateway {
    /// A door could not deliver a settled answer (the connection failed after settlement, the result could not be
    /// read): the failure is audited (`respond`/`connection_failed`) and, with automatic refunds on, the payment
    /// becomes a `pending_payout` refund; from then on a retry of the proof is told of the refund, never served the
    /// answer too (`RefundLedger.refund`). With automatic refunds off, only the failure is audited (the operator
    /// decides, `tollgate refund`), and an identified client may still fetch the kept answer with the same proof.
    ///
    /// Refunded at once rather than kept for the client's retry: the flow would have to become undelivered again, and a
    /// replay of the same proof served between the lost write and that change (another connection, another instance)
    /// would then be refunded by the reconciler too. Keeping it needs deliveries counted, so a reopening applies only to
    /// the delivery that was lost.
    public func undelivered(correlationId: String, detail: String) async {
        let event = AuditEvent(correlationId: correlationId, timeMillis: clock.nowMillis(), stage: .respond, outcome: .error,
                               reason: Reason.connectionFailed.rawValue, details: ["detail": detail, "settled": "true"])
        await appendDurably([event])
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
