import TollgateCore

extension TimingBudget {
    /// The budget of one paid route: the facilitators serving each network it accepts (those that list the
    /// network or list none) and the upstream timeout, each rounded up to whole seconds.
    public init(_ route: Route, pricing: Route.Pricing, configuration: GatewayConfiguration) {
        let networks = Set(pricing.accepts.map(\.asset.network)).sorted()
        let timeouts = networks.map { network in
            configuration.facilitators.serving(network).map { Int($0.facilitator.timeoutSeconds.rounded(.up)) }
        }
        self.init(resource: route.resource, facilitatorTimeouts: timeouts,
                  upstreamSeconds: Int(configuration.upstreamTimeoutSeconds.rounded(.up)), maxTimeoutSeconds: pricing.maxTimeoutSeconds)
    }
}
