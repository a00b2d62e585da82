import Logging
import TollgateCore

/// The search for the log that spent a nonce: from the first block in one call, or, bounded in time, from the block
/// of the payment's earliest time to the head in windows hosted nodes serve.
extension EVMChainReader {
    /// Subtracted from the caller's earliest time: the gateway's or the client's clock may be ahead of the chain's block
    /// times. Two minutes is far more than a synchronised clock drifts, and costs a few dozen blocks at most.
    public static let clockSkewMarginSeconds: Int64 = 120
    /// Blocks read at most to find where the search starts: interpolating on block times usually takes under ten, and
    /// a search cut short starts earlier than it could, never later (`FirstBlockSearch`).
    public static let maxBlockReads = 40
    /// `eth_getLogs` windows answered at most: 128,000 blocks at the default range (three days of Base, two weeks and
    /// more of Ethereum). A payment's log is nearly always in the first; past the cap, the settlement stays unknown
    /// rather than costing every reconciliation pass an unbounded number of calls.
    public static let maxLogWindows = 64
    /// Halvings of the window, in all, when the node refuses one: 2,000 blocks down to one.
    public static let maxRangeHalvings = 10

    /// What the search for the nonce's log found.
    enum SpendLog: Sendable, Hashable {
        /// The token's log for this payer and nonce; `used` is false for AuthorizationCanceled.
        case found(used: Bool, transaction: String?)
        /// No such log; `coveredAll` is false when the windows ran out before the head.
        case none(coveredAll: Bool)
    }

    /// The log that spent the authorization's nonce, among the token's logs up to `head` (whose time is `headTime`): from
    /// the first block when `since` is nil, else from the first block at or after `since` less the clock margin.
    func spendLog(_ authorization: Authorization, head: Int64, headTime: Int64, since: Int64?, logger: Logger) async throws -> SpendLog {
        guard let since else {
            let logs = try await logs(authorization, from: "earliest", to: head, logger: logger)
            return Self.spend(in: logs, authorization, within: 0...head) ?? .none(coveredAll: true)
        }
        let start = try await firstBlock(atOrAfter: since <= Self.clockSkewMarginSeconds ? 0 : since - Self.clockSkewMarginSeconds,
                                         head: head, headTime: headTime, logger: logger)
        var windows = LogWindows(from: start, to: head, maxRange: maxLogRange, maxWindows: Self.maxLogWindows, maxHalvings: Self.maxRangeHalvings)
        while let window = windows.next {
            let logs: [JSONValue]
            do {
                logs = try await self.logs(authorization, from: Self.hex(window.lowerBound), to: window.upperBound, logger: logger)
            } catch let failure as RailFailure where failure.code == .badStatus {
                // Refused, not lost: a range or result limit, or the node's own timeout. A smaller window may pass.
                guard windows.refused() else {
                    throw RailFailure(.badStatus, "eth_getLogs was refused for \(window.count) blocks (\(failure.message)); "
                                      + "the log of the spent nonce cannot be looked for", authority: shown)
                }
                logger.debug("eth_getLogs refused; asking for smaller windows", metadata: ["tollgate.blocks": "\(windows.size)"])
                continue
            }
            if let found = Self.spend(in: logs, authorization, within: window) { return found }
            windows.answered()
        }
        return .none(coveredAll: windows.coveredAll)
    }

    /// The first block whose time is at or after `target`, or an earlier one (`FirstBlockSearch`).
    func firstBlock(atOrAfter target: Int64, head: Int64, headTime: Int64, logger: Logger) async throws -> Int64 {
        var search = FirstBlockSearch(head: .init(block: head, time: headTime), target: target, maxReads: Self.maxBlockReads)
        while let block = search.nextProbe {
            let answer = try await call("eth_getBlockByNumber", [.string(Self.hex(block)), .bool(false)], logger: logger)
            guard answer["number"]?.string.flatMap(Self.quantity) == block, let time = answer["timestamp"]?.string.flatMap(Self.quantity) else {
                throw RailFailure(.undecodable, "eth_getBlockByNumber answered no timestamp for block \(block)", authority: shown)
            }
            search.record(block, time: time)
        }
        return search.firstBlock
    }

    /// The token's AuthorizationUsed and AuthorizationCanceled logs for the payer and nonce from block `from` (a
    /// quantity, or `earliest`) to `to`, as the node answers them (its filter is not trusted: `spend(in:)`).
    private func logs(_ authorization: Authorization, from: String, to: Int64, logger: Logger) async throws -> [JSONValue] {
        let filter: JSONValue = .object([
            "address": .string(authorization.asset), "fromBlock": .string(from), "toBlock": .string(Self.hex(to)),
            "topics": .array([.array([.string(Self.usedTopic), .string(Self.canceledTopic)]), .string(authorization.payer), .string(authorization.nonce)]),
        ])
        guard case .array(let logs) = try await call("eth_getLogs", [filter], logger: logger) else {
            throw RailFailure(.undecodable, "eth_getLogs answered something that is not a list", authority: shown)
        }
        return logs
    }

    /// The first of `logs` that is the token's log for this payer and nonce, in a block of `window` when it names one
    /// (a log from outside what was asked is a node not to be trusted with it).
    static func spend(in logs: [JSONValue], _ authorization: Authorization, within window: ClosedRange<Int64>) -> SpendLog? {
        for log in logs {
            if let number = log["blockNumber"]?.string, !(quantity(number).map(window.contains) ?? false) { continue }
            if authorization.isLog(log, topic: canceledTopic) { return .found(used: false, transaction: log["transactionHash"]?.string) }
            if authorization.isLog(log, topic: usedTopic) { return .found(used: true, transaction: log["transactionHash"]?.string) }
        }
        return nil
    }

    /// A block number as a JSON-RPC quantity.
    static func hex(_ block: Int64) -> String { "0x" + String(block, radix: 16) }
}
