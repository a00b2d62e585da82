import Synchronization

/// A bound on how many requests of one kind the MCP door has open to its server at once (event streams, passed-through
/// requests), and on one caller's share of it: a request holds a `Place` until its answer's body is done with; past
/// `limit` none is given, nor to a caller holding `perCaller` already, so one caller cannot hold them all.
///
/// Only callers holding places are counted (an entry goes when its count reaches zero): a flood of distinct callers
/// takes at most `limit` entries, whatever it sends.
final class MCPPlaces: Sendable {
    let limit: Int
    let perCaller: Int
    private let state = Mutex(State())

    private struct State {
        var taken = 0
        var byCaller: [String: Int] = [:]
    }

    /// Why no place was given.
    enum Refusal: Error {
        /// `limit` places are held.
        case full
        /// The caller holds `perCaller` places, and others would still get one.
        case callerFull
    }

    init(limit: Int, perCaller: Int) {
        self.limit = limit
        self.perCaller = perCaller
    }

    /// The places held now.
    var taken: Int { state.withLock { $0.taken } }
    /// The callers holding places now (the size of the per-caller table).
    var callers: Int { state.withLock { $0.byCaller.count } }
    /// The places `caller` holds now.
    func taken(by caller: String) -> Int { state.withLock { $0.byCaller[caller] ?? 0 } }

    /// A place for `caller`, given back when it is released.
    func take(for caller: String) throws(Refusal) -> Place {
        let refusal: Refusal? = state.withLock { state in
            // The whole bound first: `callerFull` says that others would still get through.
            guard state.taken < limit else { return .full }
            let held = state.byCaller[caller] ?? 0
            guard held < perCaller else { return .callerFull }
            state.taken += 1
            state.byCaller[caller] = held + 1
            return nil
        }
        if let refusal { throw refusal }
        return Place(self, caller: caller)
    }

    private func release(_ caller: String) {
        state.withLock { state in
            state.taken -= 1
            let held = (state.byCaller[caller] ?? 1) - 1
            state.byCaller[caller] = held > 0 ? held : nil
        }
    }

    /// One open request's share of the bound, held by its answer's body (`MCPPassedBody`).
    final class Place: Sendable {
        private let places: MCPPlaces
        private let caller: String

        fileprivate init(_ places: MCPPlaces, caller: String) {
            self.places = places
            self.caller = caller
        }

        deinit { places.release(caller) }
    }
}
