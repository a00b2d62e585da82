import TollgateConfiguration
import TollgateCore
import TollgateX402

extension RouteDesign {
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
