import Synchronization
import TollgateCore

/// Each route's discovery data as the x402 rails write it into every 402 (the bazaar extension in `PAYMENT-REQUIRED`,
/// the v1 `outputSchema` in the body), rendered once per `Discovery` instead of once per 402. A gateway has a
/// handful of distinct ones (one per listed route, and per method on a route that takes any); past `capacity` they
/// are rendered each time rather than remembered, so a flood of methods cannot grow it.
final class DiscoveryRenderings: Sendable {
    struct Rendered: Sendable {
        /// `{"bazaar": …}`, the v2 `extensions` object.
        let extensions: RawJSON
        /// The v1 `outputSchema`.
        let v1OutputSchema: RawJSON
    }

    private let rendered = Mutex<[Discovery: Rendered]>([:])
    let capacity: Int

    init(capacity: Int = 1024) { self.capacity = capacity }

    func of(_ discovery: Discovery) -> Rendered {
        if let known = rendered.withLock({ $0[discovery] }) { return known }
        let fresh = Rendered(extensions: RawJSON(JSONValue.object([ExactEVMRail.bazaarExtension: ExactEVMRail.bazaar(discovery)])),
                             v1OutputSchema: RawJSON(ExactEVMRail.v1OutputSchema(discovery)))
        rendered.withLock { if $0.count < capacity { $0[discovery] = fresh } }
        return fresh
    }
}
