/// The one answer to "which facilitators serve this network", for the pool (at run time), the configuration
/// loader, the timing budget, the lint and the design report (from the configuration): a facilitator configured
/// with a list of networks serves those, one configured with none serves every network. At run time the pool
/// also needs the facilitator's `/supported` answer to list the network.
public enum FacilitatorNetworks {
    /// Whether a facilitator configured for `configured` networks (empty: any) serves `network`.
    public static func serves(configured: some Collection<String>, network: String) -> Bool {
        configured.isEmpty || configured.contains(network)
    }

    /// The networks a facilitator configured for `configured` serves once its `/supported` answer listed `offered`.
    public static func served(configured: some Collection<String>, offered: Set<String>) -> Set<String> {
        offered.filter { serves(configured: configured, network: $0) }
    }

    /// The facilitators of `all` that serve `network`, with their index, in configuration order.
    public static func serving<Member>(_ network: String, among all: [Member],
                                         configured: (Member) -> [String]) -> [(index: Int, facilitator: Member)] {
        all.enumerated().compactMap { index, facilitator in
            serves(configured: configured(facilitator), network: network) ? (index, facilitator) : nil
        }
    }
}
