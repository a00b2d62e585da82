import HTTPTypes

extension Gateway {
    /// Whether `request` asks for the discovery manifest (`Settings.discoveryPath`, GET or HEAD).
    func asksForManifest(_ request: GatewayRequest) -> Bool {
        guard let path = settings.discoveryPath, request.method == .get || request.method == .head else { return false }
        return request.path == path[...]
    }

    /// The manifest of what this caller may buy. The caller is identified as for any request: an unknown key, a bad
    /// token or a revoked client is a 401, and a route it is not authorized for is not listed (a price is never shown to
    /// someone who may not pay it).
    func manifest(_ request: GatewayRequest, correlationId: String) async -> GatewayResponse {
        let identity: Identity
        switch await identify(request.headerFields) {
        case .denied(let reason):
            return manifestRefusal(reason, correlationId: correlationId,
                                   detail: reason == .unknownAPIKey ? "the API key is not known" : "the bearer token is not valid here")
        case .identified(let found):
            if case .client(let client) = found, controls.isRevoked(client: client.id) {
                return manifestRefusal(.clientRevoked, correlationId: correlationId, detail: "this API key has been revoked")
            }
            identity = found
        }
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        // The listing depends on the caller's credentials: shared caches must not serve one caller's to another.
        fields[.cacheControl] = "private, max-age=60"
        fields[.vary] = "X-Api-Key, Authorization"
        // HEAD too: the door sends the head of this answer (its length included) without the body.
        return GatewayResponse(status: .ok, headerFields: fields, body: catalogue.document(for: identity))
    }

    private func manifestRefusal(_ reason: Reason, correlationId: String, detail: String) -> GatewayResponse {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        fields[.wwwAuthenticate] = #"ApiKey header="X-Api-Key", Bearer"#
        let body = ErrorBody(error: "unauthorized", reason: reason.rawValue, detail: detail, correlationId: correlationId)
        return GatewayResponse(status: .unauthorized, headerFields: fields, body: JSONBody.encode(body))
    }
}
