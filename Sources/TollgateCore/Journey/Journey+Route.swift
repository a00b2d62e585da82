import HTTPTypes

/// Stage `route`: one spelling of the path, then the route that serves it.
extension Journey {
    mutating func arrived() -> Action {
        // Routes match, offers bind and the upstream receives one spelling of the path (RFC 3986 §6.2.2).
        let received = request.path
        // No request target has a fragment (RFC 9112 §3.2); in the query too, servers that drop it serve another request
        // than the one an offer binds.
        if request.target.utf8.contains(UInt8(ascii: "#")) {
            return deny(.badRequest, "bad_request", .route, Reason("unsafe_path"), detail: "the request target has a fragment")
        }
        switch RequestPath.normalize(received) {
        case .failure(let refusal):
            return deny(.badRequest, "bad_request", .route, Reason("unsafe_path"), detail: refusal.detail)
        case .success(let normalised):
            // The rest of the target (`?query`) is cut after the path's bytes, not its characters: a path ending in a
            // scalar that joins what follows into one grapheme (U+0600) would otherwise take the `?` with it.
            if normalised != received { request.target = normalised + String(decoding: request.target.utf8.dropFirst(received.utf8.count), as: UTF8.self) }
        }
        let route: Route
        switch settings.routes.resolve(method: request.method, path: request.path) {
        case .route(let matched):
            route = matched
        case .ambiguous(let folded, _):
            // The audit names the route the letter case would have reached; the caller learns no route's name.
            flow.resource = folded.resource
            return deny(.badRequest, "bad_request", .route, Reason("ambiguous_path"),
                        detail: "the path's letter case decides which route serves it; send it as the route spells it")
        case .none:
            if settings.unmatched == .passThrough {
                state = .readingBody(.passThrough(nil, .anonymous))
                return .readBody
            }
            return deny(.notFound, "not_found", .route, .noRoute, detail: "no route matches \(request.method.rawValue) \(request.path)")
        }
        flow.resource = route.resource
        state = .identifying(route)
        return .identify
    }
}
