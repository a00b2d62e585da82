import TollgateConfiguration
import TollgateCore
import TollgateX402

extension LimitsDerivation {
    /// `/verify` then `/settle` per paid request.
    static let callsPerPaidRequest = 2

    /// Per facilitator: the call rate and concurrency one caller can cause at the paid limit.
    func capacity() -> [FacilitatorCapacity] {
        configuration.facilitators.map { facilitator in
            let design = FacilitatorDesign(facilitator)
            let served = networks.filter { $0.facilitators.contains(design) }
            let resources = Set(served.flatMap(\.routes))
            let routes = paidRoutes.filter { resources.contains($0.resource) }
            let paid = routes.compactMap(\.limits.paid).max { ($0.ratePerSecond, $0.burst) < ($1.ratePerSecond, $1.burst) }
            let calls = Double(Self.callsPerPaidRequest)
            let perSecond = paid.map { DesignNumber.round($0.ratePerSecond * calls) }
            let inFlight = paid.map { Int(($0.ratePerSecond * calls * facilitator.timeoutSeconds).rounded(.up)) + $0.burst }
            return FacilitatorCapacity(
                url: HTTPOrigin.shown(facilitator.url), networks: served.map(\.network), timeoutSeconds: Int(facilitator.timeoutSeconds), paidLimit: paid,
                callsPerPaidRequest: Self.callsPerPaidRequest, callsPerSecondPerCaller: perSecond, inFlightPerCaller: inFlight,
                identifiedClients: configuration.clients.count,
                identifiedCallsPerSecond: perSecond.map { DesignNumber.round($0 * Double(configuration.clients.count)) },
                anonymousUnbounded: routes.contains(where: \.anonymous), breaker: design.breaker)
        }
    }

    /// Per paid route: does the authorization outlive the slowest request (verify, upstream, settle, pending settle)?
    func timing() -> [TimingBudget] {
        configuration.routes.compactMap { route in
            route.pricing.map { TimingBudget(route, pricing: $0, configuration: configuration) }
        }
    }
}
