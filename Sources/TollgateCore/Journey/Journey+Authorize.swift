import HTTPTypes

/// Stage `authorize`: authorization comes before any price, so a caller who may not use the resource never
/// sees a 402. Then the incident switch, and a free route is passed on.
extension Journey {
    mutating func authorize(_ route: Route, identity: Identity, incident: String?) -> Action {
        if case .anonymous = identity, !route.allowsAnonymous || route.scope != nil {
            return deny(.unauthorized, "unauthorized", .identify, .missingCredentials,
                        detail: "this resource needs an API key (X-Api-Key or Authorization: Bearer)")
        }
        if let scope = route.scope, case .client(let client) = identity, !client.holds(scope) {
            return deny(.forbidden, "forbidden", .authorize, .missingScope, detail: "this resource needs the scope \(scope)", extra: ["scope": scope])
        }
        if let scope = route.actionScopesNeeded(method: request.method, target: request.target).first(where: { !identity.holds($0) }) {
            return deny(.forbidden, "forbidden", .authorize, .missingScope, detail: "this action needs the scope \(scope)", extra: ["scope": scope])
        }
        guard let configured = route.pricing else {
            state = .readingBody(.passThrough(route, identity))
            return .readBody
        }
        if let incident {
            return deny(.serviceUnavailable, "service_unavailable", .decide, .incident,
                        detail: "payments for this resource are suspended (incident \(incident)); retry later", extra: ["incident": incident])
        }
        return admit(Admitted(route: route, identity: identity, configured: configured))
    }
}
