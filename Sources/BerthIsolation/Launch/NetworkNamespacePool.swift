#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import CBerthSys
import Synchronization

/// Fresh network namespaces, made ahead of launches, so a run of network `none` joins one
/// (setns, microseconds) instead of making its own at launch (the kernel's namespace setup,
/// about 0.4–1 ms here). Each is used by one run only, then dropped with it: never reused.
///
/// One thread of its own keeps the pool full: a thread that unshares its network namespace
/// changes only its own, and returns to the process's after each one.
public final class NetworkNamespacePool: Sendable {
    public let capacity: Int
    private struct State {
        var ready: [Int32] = []
        var stopped = false
        /// Why the filler stopped early, if it did.
        var failure: String?
    }
    private let state = Mutex(State())
    /// Posted when a namespace is taken (or the pool stops): the filler makes another.
    // POSIX semaphores are safe to share between threads; Swift cannot see that.
    nonisolated(unsafe) private let wanted: UnsafeMutablePointer<sem_t>
    nonisolated(unsafe) private let stoppedFilling: UnsafeMutablePointer<sem_t>

    /// Starts filling a pool of `capacity` namespaces (1 to 4096).
    public init(capacity: Int) throws {
        guard (1...4096).contains(capacity) else {
            throw BerthError.invalid("network-namespace-pool", "must be from 1 to 4096 (0 turns the pool off)", got: String(capacity))
        }
        self.capacity = capacity
        wanted = .allocate(capacity: 1)
        stoppedFilling = .allocate(capacity: 1)
        sem_init(wanted, 0, 0)
        sem_init(stoppedFilling, 0, 0)
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<NetworkNamespacePool>.fromOpaque(raw).takeRetainedValue().fill()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<NetworkNamespacePool>.fromOpaque(box).release()
            throw BerthError(.system, "cannot start the network namespace pool's thread: \(Sys.errnoText(rc))", errno: rc)
        }
        pthread_detach(thread)
    }

    deinit {
        sem_destroy(wanted)
        sem_destroy(stoppedFilling)
        wanted.deallocate()
        stoppedFilling.deallocate()
    }

    /// A ready namespace's fd (O_CLOEXEC), now the caller's to pass on and close; nil when
    /// none is ready (the run then makes its own).
    public func take() -> Int32? {
        let fd: Int32? = state.withLock { $0.ready.popLast() }
        if fd != nil { sem_post(wanted) }
        return fd
    }

    /// How many are ready now.
    public var readyCount: Int { state.withLock { $0.ready.count } }

    /// Why the pool stopped filling, if it did (the host refused a namespace, say).
    public var failure: String? { state.withLock { $0.failure } }

    /// Stops the filler and closes every ready namespace. Waits for the filler to finish the
    /// namespace it may be making.
    public func shutdown() {
        let first = state.withLock { s -> Bool in
            defer { s.stopped = true }
            return !s.stopped
        }
        guard first else { return }
        sem_post(wanted)
        while sem_wait(stoppedFilling) != 0 && errno == EINTR {}
        for fd in state.withLock({ s -> [Int32] in defer { s.ready = [] }; return s.ready }) { close(fd) }
    }

    private func fill() {
        defer { sem_post(stoppedFilling) }
        // Only idle CPU: making a namespace costs about a millisecond of kernel time, which must
        // not be taken from the launches it is meant to speed up. Under load the pool drains
        // and runs make their own, as without it. (SCHED_IDLE is 5; glibc's macro is not imported.)
        var param = sched_param()
        _ = pthread_setschedparam(pthread_self(), 5, &param)
        let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard home >= 0 else {
            state.withLock { $0.failure = "cannot open this thread's network namespace: \(Sys.errnoText(errno))" }
            return
        }
        defer { close(home) }
        while true {
            let short = state.withLock { $0.stopped ? -1 : capacity - $0.ready.count }
            if short < 0 { return }
            if short == 0 {
                while sem_wait(wanted) != 0 && errno == EINTR {}
                continue
            }
            let fd = berth_netns_create(home)
            if fd < 0 {
                let why = fd == -2 ? "could not return to its own network namespace" : "cannot make a network namespace: \(Sys.errnoText(errno))"
                state.withLock { $0.failure = why }
                return
            }
            let kept = state.withLock { s -> Bool in
                guard !s.stopped else { return false }
                s.ready.append(fd)
                return true
            }
            if !kept { close(fd); return }
        }
    }
}
