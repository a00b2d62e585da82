import HTTPTypes
import TollgateConfiguration
import TollgateCore

extension ConfigurationLint {
    static let writeMethods: [HTTPRequest.Method] = [.post, .put, .patch, .delete]

    /// TG101–TG104: who may buy, and whether the price stands in for a permission.
    static func checkAuthorization(_ c: inout LintContext) {
        let configuration = c.configuration
        let scoped = configuration.clients.filter { !$0.scopes.isEmpty }
        for (index, route, pricing) in c.paidRoutes {
            let name = c.name(route: index)
            if !route.allowsAnonymous, route.scope == nil, !scoped.isEmpty || configuration.jwt != nil {
                var buyers: [String] = []
                if !configuration.clients.isEmpty { buyers.append("every configured client (\(configuration.clients.count))") }
                if let jwt = configuration.jwt { buyers.append("every valid JWT from \(jwt.issuer)") }
                let evidence = scoped.isEmpty ? "JWTs carry scopes" : "client \(scoped[0].id) holds \(scoped[0].scopes.sorted().joined(separator: ", "))"
                c.report(.openToAnyKeyHolder, at: "routes[\(index)]",
                         "\(name) is paid and needs credentials but names no scope: \(buyers.listed) may buy it, "
                            + "though scopes are in use (\(evidence))",
                         fix: "add `scope: \(route.resource):read` to routes[\(index)] and grant it to the clients that may buy it; "
                            + "or set `anonymous: true` if anyone may")
            }

            // An MCP tool's route is always POST: what the tool does, not the method, says whether it writes.
            let writes = configuration.mcp != nil ? [] : route.method.map { writeMethods.contains($0) ? [$0] : [] } ?? writeMethods
            let gated = Set(route.actionScopes.keys.map { $0.uppercased() })
            let open = route.scope == nil ? writes.filter { !gated.contains($0.rawValue) }.map(\.rawValue) : []
            if !open.isEmpty {
                let accepting = route.method == nil ? "accepts any method" : "accepts \(open[0])"
                let who = route.allowsAnonymous ? "anyone, with or without a key," : "any caller with credentials"
                let scopes = open.map { "\($0): \(route.resource):write" }.joined(separator: ", ")
                c.report(.paymentGatesWrite, at: route.method == nil ? "routes[\(index)]" : "routes[\(index)].method",
                         "\(name) \(accepting) and no scope covers \(open.listed): \(who) who pays may write",
                         fix: "add `action_scopes: {\(scopes)}` to routes[\(index)] and grant those scopes"
                            + (route.method == nil ? "; or set `method: GET` if the route only reads" : ""))
            }

            for (other, free) in configuration.routes.enumerated() where free.pricing == nil {
                guard let scope = free.scope else { continue }
                let sameResource = free.resource == route.resource
                guard sameResource || (free.path.description == route.path.description && methodsOverlap(free.method, route.method)) else { continue }
                let what = sameResource ? "the same resource" : "the same path (\(route.path))"
                c.report(.paidAlsoFreeForScope, at: "routes[\(index)]",
                         "\(name) sells what \(c.name(route: other)) serves free to holders of \(scope) (\(what)): "
                            + "for everyone else the price stands in for that scope",
                         fix: "if it is for holders of \(scope) only, add `scope: \(scope)` to routes[\(index)] (or remove the route); "
                            + "if anyone may buy it, price routes[\(other)] too")
            }

            if route.allowsAnonymous {
                let caps = configuration.spendCaps.enumerated().filter { _, cap in
                    cap.subject != .payer && pricing.accepts.contains { $0.asset.network == cap.network && $0.asset.address.lowercased() == cap.asset }
                }.map { "spend_caps[\($0.offset)] (per \($0.element.subject.rawValue))" }
                let quotas = configuration.quotas.enumerated().filter { _, quota in quota.subject != .payer && quota.unit == pricing.unit }
                    .map { "quotas[\($0.offset)] (per \($0.element.subject.rawValue))" }
                if !(caps + quotas).isEmpty {
                    c.report(.proofNotBound, at: "routes[\(index)].anonymous",
                             "\(name) is open to anonymous payers, whose proofs are bound to no client: \((caps + quotas).listed) cannot count them, "
                                + "so a capped client can buy here without its key and without limit",
                             fix: "set `anonymous: false` on routes[\(index)] so its payments count against their client"
                                + (caps.isEmpty ? "" : ", or add a spend cap `per: payer` for anonymous spend"))
                }
            }
        }
    }

    /// Whether two routes' methods can match the same request (nil is any method; GET also matches HEAD).
    static func methodsOverlap(_ a: HTTPRequest.Method?, _ b: HTTPRequest.Method?) -> Bool {
        guard let a, let b else { return true }
        return a == b || Set([a, b]) == Set([.get, .head])
    }
}
