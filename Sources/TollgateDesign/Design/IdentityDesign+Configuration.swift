import TollgateConfiguration
import TollgateCore
import TollgateX402

extension IdentityDesign {
    init(_ configuration: GatewayConfiguration) {
        var kinds: [String] = []
        if !configuration.clients.isEmpty { kinds.append("api_key") }
        if configuration.jwt != nil { kinds.append("jwt") }
        let anonymous = configuration.routes.filter(\.allowsAnonymous).map(\.resource)
        if !anonymous.isEmpty || configuration.unmatched == .passThrough { kinds.append("anonymous") }

        var required: [String: [String]] = [:]
        for route in configuration.routes {
            if let scope = route.scope { required[scope, default: []].append("\(route.resource) (route)") }
            for (action, scope) in route.actionScopes.sorted(by: { $0.key < $1.key }) {
                required[scope, default: []].append("\(route.resource) (\(action))")
            }
            if let rule = route.privateFields { required[rule.scope, default: []].append("\(route.resource) (private fields)") }
        }
        let held = Set(configuration.clients.flatMap(\.scopes))
        let scopes = Set(required.keys).union(held).sorted().map { scope in
            ScopeDesign(scope: scope, requiredBy: required[scope] ?? [],
                        heldBy: configuration.clients.filter { $0.holds(scope) }.map(\.id).sorted())
        }
        self.init(
            kinds: kinds,
            clients: configuration.clients.map { ClientDesign(id: $0.id, scopes: $0.scopes.sorted(), organisation: $0.organisation) }
                .sorted { $0.id < $1.id },
            jwt: configuration.jwt.map { settings in
                JWTDesign(issuer: settings.issuer, audience: settings.audience,
                          keys: [settings.jwksFile.map { "jwks_file \($0)" }, settings.pemFile.map { "pem_file \($0)" }].compactMap { $0 })
            },
            anonymousRoutes: anonymous, scopes: scopes,
            organisations: Set(configuration.clients.compactMap(\.organisation)).sorted(),
            payerAllowList: configuration.payerAllowList.map { $0.map { $0.lowercased() }.sorted() },
            payerDenyList: configuration.payerDenyList.map { $0.lowercased() }.sorted())
    }
}
