// The settlement intent as the stores keep it (every paid request writes one before `/settle`), written by hand with
// the keys its synthesized `Decodable` reads back: `JSONEncoder` took a visible share of a paid request's CPU, on the
// store's single writer. `SettlementIntentJSONTests` checks that every field round-trips.

extension SettlementIntent: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("key", key)
        writer.field("correlationId", correlationId)
        writer.field("attempt", attempt)
        writer.field("payment", payment)
        writer.field("metering", metering)
        writer.field("response", response)
        writer.key("redeliverable")
        writer.value(.bool(redeliverable))
        writer.field("validBefore", validBefore)
        writer.field("createdAtMillis", createdAtMillis)
        writer.endObject()
    }
}

extension ProofKey: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("network", network)
        writer.field("asset", asset)
        writer.field("payer", payer)
        writer.field("nonce", nonce)
        writer.endObject()
    }
}

extension SettlementAttempt: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("authority", authority)
        writer.field("request", encodedRequest)
        writer.endObject()
    }
}

extension PaymentRecord: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("correlationId", correlationId)
        writer.field("rail", rail)
        writer.field("network", network)
        writer.field("asset", asset)
        writer.field("payer", payer)
        writer.field("payee", payee)
        writer.field("amount", amount)
        writer.field("nonce", nonce)
        writer.field("transaction", transaction)
        writer.field("clientId", clientId)
        writer.field("resource", resource)
        writer.field("unit", unit)
        writer.field("quantity", quantity)
        writer.field("settledAtMillis", settledAtMillis)
        writer.field("bodySHA256", bodySHA256)
        writer.endObject()
    }
}

extension MeteringRecord: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("usage", usage)
        writer.field("grant", grant)
        writer.endObject()
    }
}

extension UsageEvent: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("correlationId", correlationId)
        writer.field("clientId", clientId)
        writer.field("payer", payer)
        writer.field("resource", resource)
        writer.field("unit", unit)
        writer.field("quantity", quantity)
        writer.field("paidQuantity", paidQuantity)
        writer.field("source", source.rawValue)
        writer.field("amount", amount)
        writer.field("asset", asset)
        writer.field("atMillis", atMillis)
        writer.endObject()
    }
}

extension PackageGrant: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("clientId", clientId)
        writer.field("package", package)
        writer.field("unit", unit)
        writer.field("units", units)
        writer.endObject()
    }
}

extension StoredResponse: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("correlationId", correlationId)
        writer.field("clientId", clientId)
        writer.field("request", request)
        writer.field("status", status)
        writer.key("headers")
        writeHeaders(to: &writer)
        writer.key("body")
        writer.value(.array(body.map { .integer(Int64($0)) }))
        writer.field("expiresAt", expiresAt)
        writer.field("paymentIdentifier", paymentIdentifier)
        writer.endObject()
    }
}
