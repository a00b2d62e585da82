import HTTPTypes

/// Stages `settle`, `meter` and `respond`: only a delivered answer is settled (the intent, with the answer, is
/// committed first); the settlement, the ledger entry, the usage and the answer kept for retries are recorded
/// in one transaction before the answer is served: nothing unrecorded is served.
extension Journey {
    mutating func charged(_ charge: PaidCharge, receipt: HTTPFields, _ paid: PaidFlow, _ delivered: Delivered) -> Action {
        guard case .settled(let settlement, var events) = charge else { return finish(.ready(charge.stoppedResponse)) }
        let (response, stored) = paid.receipt(delivered.answer, receiptFields: receipt, settings: settings, atMillis: nowMillis)
        events.append(contentsOf: paid.deliveryEvents(delivered.answer, consumed: delivered.consumed, bodyDigest: delivered.bodyDigest, atMillis: nowMillis))
        let payment = paid.paymentRecord(transaction: settlement.transaction, bodyDigest: delivered.bodyDigest, atMillis: nowMillis)
        state = .recording(response, transaction: settlement.transaction)
        return .record(paid.proof.key, payment, stored, delivered.metering, events: events)
    }

    mutating func recorded(_ written: Bool, _ response: GatewayResponse, transaction: String) -> Action {
        // The money moved but the ledger could not record it: do not serve what is not recorded.
        finish(written ? .delivered(response) : .notRecorded(transaction: transaction))
    }
}

extension PaidFlow {
    /// The ledger entry of this payment.
    func paymentRecord(transaction: String, bodyDigest: String, atMillis now: Int64) -> PaymentRecord {
        let offer = offer.offer
        return PaymentRecord(
            correlationId: flow.correlationId, rail: proof.rail, network: proof.key.network, asset: proof.key.asset,
            payer: proof.key.payer, payee: proof.payee.lowercased(), amount: proof.amount, nonce: proof.key.nonce,
            transaction: transaction, clientId: identity.clientId, resource: route.resource,
            unit: offer.unit, quantity: offer.quantity, settledAtMillis: now, bodySHA256: bodyDigest)
    }

    /// The delivered answer with its receipt, and the copy kept for the same client's retries.
    func receipt(_ answer: UpstreamResponse, receiptFields: HTTPFields, settings: Gateway.Settings,
                 atMillis now: Int64) -> (GatewayResponse, StoredResponse?) {
        var fields = HopByHop.response(answer.headerFields)
        fields.append(contentsOf: receiptFields)
        fields[.cacheControl] = "private"
        var response = GatewayResponse(status: answer.status, headerFields: fields, body: answer.body)
        response.settledFlow = flow.correlationId
        return (response, storable(answer, fields: fields, settings: settings, atMillis: now))
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
