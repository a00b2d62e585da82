import Foundation
import HTTPTypes
import Logging

extension Gateway {
    /// A refusal that is not about payment (400, 401, 403, 404, 502, 503): audited, JSON body, no terms.
    /// `durable` refusals are committed before answering; the others are batched. `audit.denials: none`
    /// leaves out only refusals off the paid path (`isOffPaidPath`).
    func deny(_ status: HTTPResponse.Status, _ error: String, _ stage: AuditEvent.Stage, _ reason: Reason, flow: Flow,
              detail: String, extra: [String: String] = [:], durable: Bool = false, before: [AuditEvent] = []) async -> GatewayResponse {
        let event = flow.event(stage, .denied, reason, clock: clock, extra.merging(["detail": detail, "status": String(status.code)]) { a, _ in a })
        if durable {
            await appendDurably(before + [event])
        } else {
            let audited = settings.auditsDenials || !Self.isOffPaidPath(stage, flow: flow)
            await audit.record(contentsOf: audited ? before + [event] : before)
        }
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        if status == .unauthorized { fields[.wwwAuthenticate] = #"ApiKey header="X-Api-Key", Bearer"# }
        if status == .serviceUnavailable { fields[.retryAfter] = String(settings.retryAfterSeconds) }
        let body = ErrorBody(error: error, reason: reason.rawValue, detail: detail, correlationId: flow.correlationId, scope: extra["scope"])
        return GatewayResponse(status: status, headerFields: fields, body: JSONBody.encode(body))
    }

    /// Whether a refusal comes before any payment is handled: routing, identification, authorization,
    /// admission, the offer, or a decision on a request that carries no proof. Refusals of a request with a
    /// proof (a revoked payer…) and final answers (`respond`: paid or prepaid delivery) are on the paid path.
    static func isOffPaidPath(_ stage: AuditEvent.Stage, flow: Flow) -> Bool {
        [.route, .identify, .authorize, .admit, .offer].contains(stage) || (flow.proofDigest == nil && stage != .respond)
    }

    /// A 429 with `Retry-After` and the IETF draft `RateLimit-Policy` / `RateLimit` fields for the class that ran out.
    func tooMany(_ refusal: TrafficLimits.Refusal, flow: Flow) async -> GatewayResponse {
        let name = refusal.trafficClass.rawValue
        var response = await deny(.tooManyRequests, "too_many_requests", .admit, .rateLimited(refusal.trafficClass), flow: flow,
                                  detail: "too many \(name) requests for this \(refusal.keyKind); retry after \(refusal.decision.retryAfterSeconds) s",
                                  extra: ["class": name, "key": refusal.keyKind])
        response.headerFields[.retryAfter] = String(refusal.decision.retryAfterSeconds)
        response.headerFields[HTTPField.Name("RateLimit-Policy")!] = "\"\(name)\";q=\(refusal.limit.burst);w=\(refusal.limit.windowSeconds)"
        response.headerFields[HTTPField.Name("RateLimit")!] = "\"\(name)\";r=\(refusal.decision.remaining);t=\(refusal.decision.resetSeconds)"
        return response
    }

    /// A 503 on the paid path. The events are committed when the store allows it; a store that is
    /// down cannot make this worse (the answer is 503 either way).
    func unavailable(_ reason: Reason, flow: Flow, detail: String, events: [AuditEvent]) async -> GatewayResponse {
        await appendDurably(events)
        return await deny(.serviceUnavailable, "service_unavailable", .respond, reason, flow: flow, detail: detail, durable: true)
    }

    /// Commits `events`; false (and logged) when the store refused them.
    @discardableResult
    func appendDurably(_ events: [AuditEvent]) async -> Bool {
        guard !events.isEmpty else { return true }
        do {
            try await store.append(events)
            return true
        } catch {
            logger.error("audit events not written", metadata: ["tollgate.correlation_id": "\(events[0].correlationId)", "tollgate.error": "\(error)"])
            return false
        }
    }

    /// A 402 with structured terms: the rail's header (`PAYMENT-REQUIRED`) and the same terms as JSON for people.
    /// Issuing it writes nothing synchronously; while the audit backlog is full (the store refusing writes), it is a 503.
    /// `earlier` are the events of the refusal this offer follows, recorded with the offer's own, all or none.
    func offer(_ request: GatewayRequest, route: Route, pricing: Route.Pricing, identity: Identity, reason: Reason,
               flow: Flow, detail: String? = nil, previous: String? = nil, earlier: [AuditEvent] = []) async -> GatewayResponse {
        // Only ways to pay that can be verified now: an offer nobody can settle would make the client
        // sign for nothing. With none left, the route is closed (503), never open.
        let readiness = Readiness(rails: rails, route: route, accepts: pricing.accepts)
        let accepts = readiness.payableAccepts(pricing.accepts)
        guard !accepts.isEmpty else {
            return await deny(.serviceUnavailable, "service_unavailable", .offer, .facilitatorUnavailable, flow: flow,
                              detail: "payments for this resource cannot be verified right now; retry later")
        }
        let now = clock.nowSeconds
        let expiresAt = now + Int64(pricing.offerValiditySeconds)
        let requestLine = request.requestLine
        let digest = RequestTarget.bodyDigest(request.body)
        let offers = accepts.map { acceptance in
            settings.offers.sign(Offer(
                correlationId: flow.correlationId, resource: route.resource, request: requestLine, bodyDigest: digest,
                client: identity.clientId, network: acceptance.asset.network, asset: acceptance.asset.address,
                amount: acceptance.amount, payTo: acceptance.payTo, unit: pricing.unit, quantity: pricing.quantity,
                maxTimeoutSeconds: pricing.maxTimeoutSeconds, expiresAt: expiresAt))
        }
        let resourceURL = settings.publicURL + request.target
        let discovery = settings.discoveryPath == nil || !route.isPublic ? nil : route.discovery?.called(with: request.method.rawValue)

        // Terms nobody could trace are not issued: with the store refusing writes long enough to fill the batcher's
        // backlog, the client is asked to come back (a paid retry could not be recorded either).
        let recorded = await audit.record(contentsOf: earlier + [flow.event(.offer, .issued, reason, clock: clock, [
            "price": pricing.price, "unit": pricing.unit, "quantity": String(pricing.quantity),
            "accepts": accepts.map { "\($0.amount) \($0.asset.id) on \($0.asset.network)" }.joined(separator: ", "),
            "expires_at": String(expiresAt), "request": requestLine,
        ].merging(previous.map { ["previous_correlation_id": $0] } ?? [:]) { a, _ in a }
         // What else the offer binds: the body (an MCP tool call's arguments, in canonical form).
         .merging(digest.map { ["request_body_sha256": $0] } ?? [:]) { a, _ in a })])
        guard recorded else {
            // Named by the flow the client knows: the refused one when this offer followed a refusal.
            var refused = flow
            refused.correlationId = previous ?? flow.correlationId
            return await deny(.serviceUnavailable, "service_unavailable", .offer, .storeUnavailable, flow: refused,
                              detail: "the gateway cannot record payment terms right now; retry later")
        }

        // A refusal names the flow whose trace explains it; the fresh offer inside starts the next flow.
        let values = TermsTemplate.Values(correlationId: previous ?? flow.correlationId, client: identity.clientId, resourceURL: resourceURL,
                                          expiresAt: RFC3339.format(seconds: expiresAt), offerCorrelationId: previous == nil ? nil : flow.correlationId,
                                          detail: detail, tokens: offers.map(\.token))
        // Only the rails that can take a payment now are named to the client, each with the offers it can take (a
        // network may be served in one x402 version only).
        func terms() -> Terms {
            Terms(route: route, pricing: pricing, payable: readiness.payableRails(rails, accepts: pricing.accepts), accepts: accepts, reason: reason,
                  discovery: discovery)
        }
        // The terms are the same for every request to the route at this price, for this reason, but for their values:
        // learnt once (refusals too: a flood of invalid proofs is answered with fresh terms each time).
        if let payable = readiness.bits,
           let template = termsTemplates.template(.init(route: route.identity, payable: payable, refusal: previous != nil, detailed: detail != nil),
                                                  route: route, method: request.method, reason: reason, pricing: pricing, make: {
                                                      TermsTemplate.make(shapedLike: values) { values, seed in
                                                          Self.renderTerms(terms(), offers: Self.standIns(for: offers, values: values, seed: seed),
                                                                           values: values)
                                                      }
                                                  }), template.tokenCount == values.tokens.count {
            let rendered = template.render(values)
            return GatewayResponse(status: .paymentRequired, headerFields: rendered.fields, body: rendered.body)
        }
        let rendered = Self.renderTerms(terms(), offers: offers, values: values)
        return GatewayResponse(status: .paymentRequired, headerFields: rendered.fields, body: rendered.body)
    }
}

/// The JSON body of a refusal. Keys are written in sorted order (the bodies' documented form since they were encoded
/// with sorted keys).
struct ErrorBody: JSONWritable {
    var error: String
    var reason: String
    var detail: String
    var correlationId: String
    var scope: String?

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("correlationId", correlationId)
        writer.field("detail", detail)
        writer.field("error", error)
        writer.field("reason", reason)
        writer.field("scope", scope)
        writer.endObject()
    }
}

/// The JSON body of a 402: the terms for people and for clients that read bodies. Keys sorted, as `ErrorBody`.
struct TermsBody: JSONWritable {
    struct Resource: JSONWritable {
        var id, url, description, mimeType: String

        func write(to writer: inout JSONWriter) {
            writer.beginObject()
            writer.field("description", description)
            writer.field("id", id)
            writer.field("mimeType", mimeType)
            writer.field("url", url)
            writer.endObject()
        }
    }

    struct Accept: JSONWritable {
        var asset, network, address, amount, payTo: String

        func write(to writer: inout JSONWriter) {
            writer.beginObject()
            writer.field("address", address)
            writer.field("amount", amount)
            writer.field("asset", asset)
            writer.field("network", network)
            writer.field("payTo", payTo)
            writer.endObject()
        }
    }

    struct Package: JSONWritable {
        var name: String
        var units: Int

        func write(to writer: inout JSONWriter) {
            writer.beginObject()
            writer.field("name", name)
            writer.field("units", units)
            writer.endObject()
        }
    }

    var error: String
    var reason: String
    var detail: String
    var correlationId: String
    /// Set when the 402 refuses a proof: the flow the fresh offer starts.
    var offerCorrelationId: String?
    var resource: Resource
    var price: String
    /// Set when the price is per unit: `price` is then this times `quantity`.
    var unitPrice: String?
    var unit: String
    var quantity: Int
    /// Set when one payment buys a package of units for later requests.
    var package: Package?
    var accepts: [Accept]
    var proofFormat: String
    var expiresAt: String
    var client: String
    /// What the rails add (`PaymentRail.challengeBody`), written after the members above; a rail's `accepts` takes the
    /// place of the gateway's own list.
    var railMembers: [String: RawJSON] = [:]

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        if railMembers["accepts"] == nil {
            writer.key("accepts")
            writer.beginArray()
            for accept in accepts { writer.write(accept) }
            writer.endArray()
        }
        writer.field("client", client)
        writer.field("correlationId", correlationId)
        writer.field("detail", detail)
        writer.field("error", error)
        writer.field("expiresAt", expiresAt)
        writer.field("offerCorrelationId", offerCorrelationId)
        writer.field("package", package)
        writer.field("price", price)
        writer.field("proofFormat", proofFormat)
        writer.field("quantity", quantity)
        writer.field("reason", reason)
        writer.field("resource", resource)
        writer.field("unit", unit)
        writer.field("unitPrice", unitPrice)
        for (key, value) in railMembers.sorted(by: { $0.key < $1.key }) { writer.field(key, value) }
        writer.endObject()
    }
}

enum JSONBody {
    static func encode(_ value: some JSONWritable) -> [UInt8] {
        JSONWriter.bytes(value)
    }
}
