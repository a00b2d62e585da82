import HTTPTypes

/// What the gateway sells, as its discovery manifest lists it: one entry per paid route that publishes itself
/// (`Route.discovery`), written once from the configuration with the rails' own terms (`PaymentRail.catalogue`), so
/// the manifest and the 402s cannot disagree on a price. Built once per gateway; shared by reference.
final class DiscoveryCatalogue: Sendable {
    struct Entry: Sendable {
        var route: Route
        /// The resource's URL (a pattern's wildcards kept: `https://api.example.com/datasets/*`).
        var url: String
        var item: JSONValue
    }

    let entries: [Entry]
    /// When the catalogue was written (Unix seconds): the manifest's `lastUpdated`.
    let writtenAt: Int64

    init(routes: RouteTable, rails: [any PaymentRail], publicURL: String, now: Int64) {
        writtenAt = now
        entries = routes.routes.compactMap { route in
            guard let pricing = route.pricing, let discovery = route.discovery else { return nil }
            let url = publicURL + route.path.description
            return Entry(route: route, url: url, item: Self.item(route, pricing: pricing, discovery: discovery, url: url,
                                                               rails: rails.filter { route.accepts(rail: $0.name) }, now: now))
        }
    }

    /// The entries a caller may use: what `authorize` would let it reach (a route it cannot call never shows its price).
    func visible(to identity: Identity) -> [Entry] {
        entries.filter { entry in
            let route = entry.route
            if case .anonymous = identity, !route.allowsAnonymous || route.scope != nil { return false }
            return route.scope.map(identity.holds) ?? true
        }
    }

    static func item(_ route: Route, pricing: Route.Pricing, discovery: Discovery, url: String, rails: [any PaymentRail],
                     now: Int64) -> JSONValue {
        // Offers as a 402 makes them, to no client and for no particular request: the rails leave the signed token out.
        let request = "\(discovery.method ?? "GET") \(route.path.description)"
        let offers = pricing.accepts.map {
            SignedOffer(offer: Offer(correlationId: "", resource: route.resource, request: request, bodyDigest: nil, client: "",
                                     network: $0.asset.network, asset: $0.asset.address, amount: $0.amount, payTo: $0.payTo,
                                     unit: pricing.unit, quantity: pricing.quantity, maxTimeoutSeconds: pricing.maxTimeoutSeconds,
                                     expiresAt: 0), token: "")
        }
        // What a 402 of this route carries: its discovery only on a public route, and only with a method to name (a 402
        // of a route that takes any method names the request's).
        let published = route.isPublic && discovery.method != nil ? discovery : nil
        let challenge = PaymentChallenge(resourceURL: url, description: route.description, mimeType: route.mimeType, offers: offers,
                                         error: "", discovery: published)
        var item: [String: JSONValue] = [
            "resource": .string(url), "type": .string("http"), "id": .string(route.resource),
            "method": discovery.method.map(JSONValue.string) ?? .null, "path": .string(route.path.description),
            "pathIsPattern": .bool(route.path.description.contains("*")),
            "description": .string(route.description), "mimeType": .string(route.mimeType),
            "price": .string(pricing.price), "unit": .string(pricing.unit), "quantity": .integer(Int64(pricing.quantity)),
            "pricedPerUnit": .bool(pricing.metering.pricesPerUnit),
            "access": .string(route.scope.map { "scope \($0)" } ?? (route.allowsAnonymous ? "anyone" : "any identified client")),
            "proofFormats": .array(rails.map { .string($0.wire.proofFormat) }),
            "lastUpdated": .integer(now),
        ]
        if let package = pricing.metering.package {
            item["package"] = .object(["name": .string(package.name), "units": .integer(Int64(package.units))])
        }
        var input: [String: JSONValue] = [:]
        input["method"] = discovery.method.map(JSONValue.string)
        input["queryParams"] = discovery.querySchema
        input["queryExample"] = discovery.queryExample
        input["bodyType"] = discovery.takesBody ? .string(discovery.bodyType ?? "json") : nil
        input["body"] = discovery.bodySchema
        input["bodyExample"] = discovery.bodyExample
        item["input"] = .object(input)
        var output: [String: JSONValue] = ["mimeType": .string(route.mimeType)]
        output["schema"] = discovery.outputSchema
        output["example"] = discovery.outputExample
        item["output"] = .object(output)
        for rail in rails {
            item.merge(rail.catalogue(challenge)) { first, _ in first }
        }
        return .object(item)
    }

    /// The manifest for one caller: `{"version": 1, "lastUpdated", "resources": [URLs], "items": [...]}`. `resources` is
    /// the plain list crawlers read; `items` the full entries.
    func document(for identity: Identity) -> [UInt8] {
        let listed = visible(to: identity)
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("version", 1)
        writer.field("lastUpdated", writtenAt)
        writer.key("resources")
        writer.beginArray()
        for entry in listed { writer.value(.string(entry.url)) }
        writer.endArray()
        writer.key("items")
        writer.beginArray()
        for entry in listed { writer.value(entry.item) }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }
}
