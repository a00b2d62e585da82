import TollgateConfiguration
import TollgateCore
import TollgateX402

extension NetworkDesign {
    /// Every network a paid route accepts, sorted, with the facilitators tried for it.
    static func all(_ configuration: GatewayConfiguration) -> [NetworkDesign] {
        let paid = configuration.routes.compactMap { route in route.pricing.map { (route.resource, $0) } }
        return configuration.paidNetworks.sorted().map { network in
            let serving = configuration.facilitators.serving(network).map { $0.facilitator }
            return NetworkDesign(
                network: network, testnet: KnownNetwork.isTestNetwork(network),
                assets: Set(paid.flatMap { $0.1.accepts.filter { $0.asset.network == network }.map(\.asset.id) }).sorted(),
                routes: paid.filter { $0.1.accepts.contains { $0.asset.network == network } }.map(\.0),
                facilitators: serving.map(FacilitatorDesign.init), failover: serving.count > 1)
        }
    }
}
