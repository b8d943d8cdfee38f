import Dispatch
import Foundation

/// A stop request the training loop checks after every optimizer step (it then saves a checkpoint
/// and stops). `installSignalHandlers` turns SIGINT (Ctrl-C) and SIGTERM into requests through
/// dispatch signal sources — the handler runs on a queue, not in signal context, so it may lock
/// and print; a second signal exits at once (status 130) without saving.
public final class TrainingInterruption: @unchecked Sendable {
    private let lock = NSLock()
    private var requestedBy: String?
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "readapt.training.signals")

    public init() {}

    /// The signal (or reason) of the first request, nil while none.
    public var request: String? { lock.lock(); defer { lock.unlock() }; return requestedBy }

    /// Records a request; returns false if one was already pending.
    @discardableResult
    public func requestStop(_ reason: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard requestedBy == nil else { return false }
        requestedBy = reason
        return true
    }

    /// Routes SIGINT and SIGTERM here; `notice` is called (on a private queue) on the first one.
    public func installSignalHandlers(notice: @escaping @Sendable (String) -> Void) {
        for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(number, SIG_IGN)  // the dispatch source sees it; the default action would kill us
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [weak self] in
                guard let self else { return }
                if self.requestStop(name) {
                    notice(name)
                } else {
                    FileHandle.standardError.write(Data("\(name) again: exiting without saving.\n".utf8))
                    exit(130)
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Restores the default signal actions.
    public func uninstallSignalHandlers() {
        for source in sources { source.cancel() }
        sources.removeAll()
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
