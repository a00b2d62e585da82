import Synchronization

/// A bound on how many requests of one kind the MCP door has open to its server at once (event streams, passed-through
/// requests): a request holds a `Place` until its answer's body is done with, and past `limit` none is given.
final class MCPPlaces: Sendable {
    let limit: Int
    private let count = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// The places held now.
    var taken: Int { count.load(ordering: .relaxed) }

    /// A place, given back when it is released; nil when `limit` are held.
    func take() -> Place? {
        guard count.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
            count.wrappingSubtract(1, ordering: .relaxed)
            return nil
        }
        return Place(self)
    }

    /// One open request's share of the bound, held by its answer's body (`MCPPassedBody`).
    final class Place: Sendable {
        private let places: MCPPlaces

        fileprivate init(_ places: MCPPlaces) { self.places = places }

        deinit { places.count.wrappingSubtract(1, ordering: .relaxed) }
    }
}
