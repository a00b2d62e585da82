import TollgateConfiguration
import TollgateCore
import TollgateX402

extension RouteDesign {
    init(_ route: Route, configuration: GatewayConfiguration) {
        self.init(route, limits: configuration.limits)
        guard route.pricing != nil else { return }
        let v1 = configuration.x402.v1 && configuration.mcp == nil && route.accepts(rail: ExactEVMRail.v1Name)
        x402Versions = v1 ? [X402.version, X402V1.version] : [X402.version]
        if configuration.x402.discovery, configuration.mcp == nil, let published = route.discovery {
            let parts: [(String, Bool)] = [
                ("query schema", published.querySchema != nil), ("query example", published.queryExample != nil),
                ("body schema", published.bodySchema != nil), ("body example", published.bodyExample != nil),
                ("output schema", published.outputSchema != nil), ("output example", published.outputExample != nil),
            ]
            discovery = DiscoveryDesign(method: published.method ?? "*", published: parts.filter(\.1).map(\.0))
        }
    }

    init(_ route: Route, limits: LimitsConfiguration) {
        self.init(
            resource: route.resource, method: route.method.map { String(describing: $0) } ?? "*", path: route.path.description,
            description: route.description, mimeType: route.mimeType, anonymous: route.allowsAnonymous, scope: route.scope,
            actionScopes: route.actionScopes.map { ActionScopeDesign(action: $0.key, scope: $0.value) }.sorted { $0.action < $1.action },
            privateFields: route.privateFields.map { PrivateFieldsDesign(scope: $0.scope, fields: $0.fields.sorted()) },
            pricing: route.pricing.map(PricingDesign.init),
            limits: ClassLimitsDesign(routeLimits: limits, resource: route.resource))
    }
}
