import TollgateConfiguration
import TollgateCore
import TollgateX402

extension FacilitatorDesign {
    init(_ facilitator: GatewayConfiguration.Facilitator) {
        self.init(
            url: HTTPOrigin.shown(facilitator.url), timeoutSeconds: Int(facilitator.timeoutSeconds), networks: facilitator.networks,
            breaker: BreakerDesign(failures: facilitator.breaker.failureThreshold, slowMillis: Int(facilitator.breaker.slowCallMillis),
                                   openSeconds: Int(facilitator.breaker.openSeconds)),
            loopback: NetworkAddress.isLoopback(url: facilitator.url), headerEndpoints: facilitator.headers.keys.sorted())
    }
}
