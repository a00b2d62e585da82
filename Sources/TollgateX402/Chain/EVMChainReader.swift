import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TollgateCore

/// Reads EIP-3009 authorization state from an EVM node over JSON-RPC, to resolve a settlement whose outcome
/// the facilitator could not tell: `authorizationState(authorizer, nonce)` says whether the nonce is spent,
/// and the token's `AuthorizationUsed` / `AuthorizationCanceled` log says how, with its transaction.
public struct EVMChainReader: Sendable {
    public let url: String
    public let timeout: Duration
    let client: HTTPClient

    static let authorizationStateSelector = Array(Keccak256.hash(Array("authorizationState(address,bytes32)".utf8)).prefix(4))
    static let usedTopic = HexString.prefixed(Keccak256.hash(Array("AuthorizationUsed(address,bytes32)".utf8)))
    static let canceledTopic = HexString.prefixed(Keccak256.hash(Array("AuthorizationCanceled(address,bytes32)".utf8)))
    static let transferTopic = HexString.prefixed(Keccak256.hash(Array("Transfer(address,address,uint256)".utf8)))

    public init(url: String, timeout: Duration = .seconds(5), client: HTTPClient = .noRedirects) {
        self.url = url
        self.timeout = timeout
        self.client = client
    }

    /// The state of `nonce` for `payer` on the token `asset` (all `0x` hex). With `paying` (payee, atomic amount), a nonce
    /// spent is `used` only when the transaction that spent it transferred that amount from the payer to the payee (its
    /// receipt's `Transfer` log): the nonce alone says the payer's authorization with that nonce ran, not that it was this
    /// payment (a payer can sign another to itself with the same nonce and send it first). Throws `RailFailure` when the
    /// node cannot answer.
    public func authorization(asset: String, payer: String, nonce: String, paying: (payee: String, amount: String)? = nil,
                              logger: Logger) async throws -> ChainAuthorization {
        guard let payerBytes = HexString.decodeAllowingPrefix(payer), payerBytes.count == 20, let nonceBytes = HexString.decodeAllowingPrefix(nonce), nonceBytes.count == 32 else {
            throw RailFailure(.undecodable, "payer or nonce is not an EVM value", authority: url)
        }
        let payerWord = Self.word(address: payerBytes)
        let data = HexString.prefixed(Self.authorizationStateSelector + HexString.decodeAllowingPrefix(payerWord)! + nonceBytes)
        let state = try await call("eth_call", [.object(["to": .string(asset), "data": .string(data)]), .string("latest")], logger: logger)
        guard let word = state.string.flatMap({ HexString.decodeAllowingPrefix($0) }), word.count == 32 else {
            throw RailFailure(.undecodable, "eth_call answered something that is not a bool", authority: url)
        }
        guard word.last == 1 else { return .unused }
        let filter: JSONValue = .object([
            "address": .string(asset), "fromBlock": .string("earliest"), "toBlock": .string("latest"),
            "topics": .array([.array([.string(Self.usedTopic), .string(Self.canceledTopic)]), .string(payerWord), .string(HexString.prefixed(nonceBytes))]),
        ])
        guard case .array(let logs) = try await call("eth_getLogs", [filter], logger: logger) else {
            throw RailFailure(.undecodable, "eth_getLogs answered something that is not a list", authority: url)
        }
        for log in logs {
            guard case .array(let topics)? = log["topics"], let topic = topics.first?.string?.lowercased() else { continue }
            if topic == Self.canceledTopic { return .cancelled }
            if topic == Self.usedTopic {
                let transaction = log["transactionHash"]?.string
                guard let paying, let transaction else { return .used(transaction: transaction) }
                return try await transfers(in: transaction, asset: asset, from: payerWord, to: paying.payee, amount: paying.amount, logger: logger)
                    ? .used(transaction: transaction) : .usedElsewhere(transaction: transaction)
            }
        }
        // Spent, but the node keeps no logs that old: a transfer without its transaction.
        return .used(transaction: nil)
    }

    /// An address as a 32-byte ABI word (a log topic, a call argument), `0x` and lowercase hex.
    private static func word(address: [UInt8]) -> String { HexString.prefixed(Array(repeating: 0, count: 12) + address) }

    /// Whether the receipt of `transaction` holds a `Transfer` of `amount` from `from` (a topic word) to `to` on `asset`.
    private func transfers(in transaction: String, asset: String, from: String, to: String, amount: String, logger: Logger) async throws -> Bool {
        guard let payee = HexString.decodeAllowingPrefix(to), payee.count == 20, let word = UInt256Word.fromDecimal(amount) else {
            throw RailFailure(.undecodable, "the payment's payee or amount is not an EVM value", authority: url)
        }
        let receipt = try await call("eth_getTransactionReceipt", [.string(transaction)], logger: logger)
        guard case .array(let logs)? = receipt["logs"] else {
            throw RailFailure(.undecodable, "eth_getTransactionReceipt answered no logs for \(transaction)", authority: url)
        }
        let payeeWord = Self.word(address: payee)
        return logs.contains { log in
            guard log["address"]?.string?.lowercased() == asset.lowercased(), case .array(let topics)? = log["topics"], topics.count == 3,
                  topics[0].string?.lowercased() == Self.transferTopic, topics[1].string?.lowercased() == from.lowercased(),
                  topics[2].string?.lowercased() == payeeWord,
                  let data = log["data"]?.string.flatMap(HexString.decodeAllowingPrefix), data.count == 32 else { return false }
            return data == word
        }
    }

    /// Whether `address` holds contract code (`eth_getCode`).
    public func hasCode(at address: String, logger: Logger) async throws -> Bool {
        guard let code = try await call("eth_getCode", [.string(address), .string("latest")], logger: logger).string else {
            throw RailFailure(.undecodable, "eth_getCode answered something that is not hex", authority: url)
        }
        return !(HexString.decodeAllowingPrefix(code) ?? []).isEmpty
    }

    private func call(_ method: String, _ params: [JSONValue], logger: Logger) async throws -> JSONValue {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let body: JSONValue = .object(["jsonrpc": .string("2.0"), "id": .integer(1), "method": .string(method), "params": .array(params)])
        request.body = .bytes(ByteBuffer(bytes: HeaderCodec.json(body)))
        let bytes: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(timeout.inNanoseconds), logger: logger)
            guard response.status == .ok else { throw RailFailure(.badStatus, "\(method) answered \(response.status.code)", authority: url) }
            bytes = try await response.body.collect(upTo: 1 << 20)
        } catch let failure as RailFailure {
            throw failure
        } catch {
            throw RailFailure(.connectionLost, "\(method): \(error)", authority: url)
        }
        guard let answer = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes.readableBytesView)) else {
            throw RailFailure(.undecodable, "\(method) answered something that is not JSON-RPC", authority: url)
        }
        if let error = answer["error"], error != .null {
            throw RailFailure(.badStatus, "\(method) failed: \(error["message"]?.string ?? "error")", authority: url)
        }
        guard let result = answer["result"] else { throw RailFailure(.undecodable, "\(method) answered no result", authority: url) }
        return result
    }
}
