import HTTPTypes
import Synchronization

/// The terms templates of one gateway (`TermsTemplate`), one per route, method, reason, price and set of payable rails,
/// each learnt on its first 402. Bounded twice: at most `perKey` under one key (a client chooses the quantity of a
/// metered route, and so its price; a facilitator names its refusals' reasons), which also bounds the list a lookup
/// scans under the lock, and at most `capacity` in all. Past either, terms are rendered whole, as before templates.
final class TermsTemplates: Sendable {
    /// Past this many in all, terms are rendered whole.
    let capacity: Int
    /// Past this many methods, reasons and prices under one key, their terms are rendered whole.
    let perKey: Int

    init(capacity: Int = 4096, perKey: Int = 32) {
        self.capacity = capacity
        self.perKey = perKey
    }

    /// What a template depends on besides the method, the reason and the price (compared, not hashed: a route sees
    /// few). `payable` has one bit per rail and accepted asset that can be paid now (`Readiness.bits`); `refusal` and
    /// `detailed` say whether the terms name an offer correlation id and a detail of their own (members a 402 without
    /// them leaves out).
    struct Key: Hashable {
        var route: ObjectIdentifier
        var payable: UInt64
        var refusal = false
        var detailed = false
    }

    private struct Entry {
        /// Held so that its identity (the key's `route`) is never another route's.
        let route: Route
        /// The discovery extension names the method.
        let method: HTTPRequest.Method
        /// Named by the terms' error and reason, and by their standard detail.
        let reason: Reason
        let pricing: Route.Pricing
        /// nil: the rails render these terms in a way a template cannot follow; rendered whole every time.
        let template: TermsTemplate?

        func matches(_ route: Route, _ method: HTTPRequest.Method, _ reason: Reason, _ pricing: Route.Pricing) -> Bool {
            self.method == method && self.reason == reason && self.pricing == pricing && self.route == route
        }
    }

    private struct State {
        var entries: [Key: [Entry]] = [:]
        var count = 0
    }

    private let state = Mutex(State())

    /// The template for these terms, learnt with `make` the first time; nil when they are rendered whole.
    func template(_ key: Key, route: Route, method: HTTPRequest.Method, reason: Reason, pricing: Route.Pricing,
                  make: () -> TermsTemplate?) -> TermsTemplate? {
        enum Lookup { case learnt(TermsTemplate?), toLearn, full }
        let lookup: Lookup = state.withLock { state in
            let entries = state.entries[key] ?? []
            if let entry = entries.first(where: { $0.matches(route, method, reason, pricing) }) { return .learnt(entry.template) }
            return state.count < self.capacity && entries.count < self.perKey ? .toLearn : .full
        }
        switch lookup {
        case .learnt(let template): return template
        case .full: return nil
        case .toLearn: break
        }
        let template = make()
        state.withLock { state in
            let entries = state.entries[key] ?? []
            guard state.count < self.capacity, entries.count < self.perKey,
                  !entries.contains(where: { $0.matches(route, method, reason, pricing) }) else { return }
            state.entries[key, default: []].append(Entry(route: route, method: method, reason: reason, pricing: pricing, template: template))
            state.count += 1
        }
        return template
    }

    /// How many terms have been learnt (templates and refusals to template).
    var count: Int { state.withLock { $0.count } }
}
