#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import CBerthSys

/// A run whose shim was started: by this process (`Launcher.start`), or by an earlier one and
/// re-adopted from its handle (`Launcher.adopt`). The shim is named by its pid *and* its start
/// time, so a pid the kernel has given to another process is never signalled, waited on or
/// reaped in its place.
///
/// Watching a run needs no waitpid: `openPidfd()` gives an fd that polls readable once the
/// shim has exited (for any process, child or not), then `finish()` reaps the shim if it is
/// this process's child and reads how the run ended from the status file. `wait()` is both.
public struct StartedRun: Sendable {
    /// The spec it was started with; nil for a run adopted from its handle.
    public let spec: RunSpec?
    /// The run's ids.
    public let place: RunPlace
    public let shimPID: pid_t
    /// The shim's start time, in clock ticks since boot (field 22 of `/proc/PID/stat`); 0 when
    /// it could not be read, and then nothing is done through the pid.
    public let shimStart: UInt64
    public let statusPath: String
    /// The run's cgroup. For an adopted run, rebuilt from the ids (`CgroupDriver.runCgroup(for:)`):
    /// its `applied` limits and `warnings` are empty.
    public let cgroup: RunCgroup
    let driver: any CgroupDriver

    /// Kills whatever is left in a run's cgroup, waits (up to 5 s) until it is empty, and
    /// removes it. Returns whether it is gone.
    static func killAndRemove(_ cgroup: RunCgroup, driver: any CgroupDriver) -> Bool {
        try? Sys.write(cgroup.unifiedPath + "/cgroup.kill", "1")
        for _ in 0..<500 {
            let events = Sys.read(cgroup.unifiedPath + "/cgroup.events") ?? ""
            if events.isEmpty || events.contains("populated 0") { break }
            usleep(10_000)
        }
        driver.removeRun(cgroup)
        return cgroup.directories.allSatisfy { access($0, F_OK) != 0 }
    }

    /// A pidfd for the shim (pidfd_open(2)), checked to be the shim's own: the process that has
    /// the pid now started when the shim did. It polls readable (POLLIN) once the shim has
    /// exited. The caller closes it.
    ///
    /// Throws with errno ESRCH when the shim is gone (exited and reaped, or its pid is another
    /// process's now): then `finish()` tells how the run ended. ENOSYS on kernels before 5.3.
    public func openPidfd() throws -> Int32 {
        let fd = berth_pidfd_open(shimPID)
        guard fd >= 0 else {
            let e = errno
            throw BerthError(.system, "pidfd_open of the shim of run \(place.run) (pid \(shimPID)): \(Sys.errnoText(e))", errno: e)
        }
        // The pidfd names whatever process has the pid now: it is the shim only if it started
        // when the shim did. (Checked after opening: a pidfd never changes process.)
        guard shimStart != 0, ProcessStat.read(shimPID)?.start == shimStart else {
            close(fd)
            throw BerthError(.system, "pid \(shimPID) is no longer the shim of run \(place.run): the shim has exited", errno: ESRCH)
        }
        return fd
    }

    /// Sends a signal to the shim (pidfd_send_signal(2), never to a process that reused its
    /// pid), which passes SIGINT, SIGTERM and SIGHUP on to the job and escalates to
    /// `cgroup.kill` after the grace period. Nothing happens when the shim is gone.
    public func signal(_ sig: Int32) {
        do {
            let fd = try openPidfd()
            defer { close(fd) }
            _ = berth_pidfd_send_signal(fd, sig)
        } catch let error as BerthError where error.errno == ENOSYS {
            if ProcessStat.isRunning(shimPID, start: shimStart) { kill(shimPID, sig) }
        } catch {}
    }

    /// Waits until the shim has exited, then returns how the run ended. The same as `finish()`:
    /// `berth run` and the daemon share one path.
    public func wait() -> RunResult { finish() }

    /// How the run ended. Call it once the shim has exited (its pidfd polled readable; if the
    /// shim still runs, this waits for it). Reaps the shim if it is this process's child
    /// (waitid(P_PIDFD, WNOHANG): exactly that process; ECHILD for another's child is fine),
    /// then reads the `ended` status file. If the shim died without writing one (it was
    /// killed), kills and removes what is left of the run and reports `launchFailed`.
    ///
    /// A status file that names a live shim other than this one (a stale handle) is waited
    /// for through that shim instead: a live run is never torn down from here.
    public func finish() -> RunResult {
        let exit = waitUntilGone()
        let status = ShimStatus.read(statusPath).flatMap { $0.belongs(to: place) ? $0 : nil }
        if let s = status, s.state == .ended {
            return RunResult(place: place, status: s, cgroup: cgroup, driver: driver)
        }
        if let s = status, let start = s.shimStart, s.shimPID != shimPID || start != shimStart,
           ProcessStat.isRunning(s.shimPID, start: start) {
            return StartedRun(spec: spec, place: place, shimPID: s.shimPID, shimStart: start, statusPath: statusPath, cgroup: cgroup,
                              driver: driver).finish()
        }
        // The shim died before its own teardown (its run's init got SIGKILL with it): do what
        // it would have, and say what happened.
        let removed = Self.killAndRemove(cgroup, driver: driver)
        let wall = status.map { Int((StatusRetention.currentNanos() - $0.startedNanos) / 1_000_000) } ?? 0
        return RunResult(place: place,
                         ending: .launchFailed(message: "the run's supervisor (berth-shim) \(exit ?? "is gone") before the run ended; the run was killed"),
                         stats: RunStats(), wallMillis: max(0, wall), cgroup: cgroup, stuck: !removed, cgroupRemoved: removed,
                         jobPID: status?.pid ?? 0)
    }

    /// Waits until the shim is no longer running and reaps it if it is this process's child.
    /// Returns how it ended ("exited with 1", "was killed by signal 9") when this process reaped it.
    func waitUntilGone() -> String? {
        let fd: Int32
        do {
            fd = try openPidfd()
        } catch let error as BerthError where error.errno == ENOSYS {
            return waitWithoutPidfd()
        } catch {
            return nil                       // gone already
        }
        defer { close(fd) }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while poll(&p, 1, -1) < 0 && errno == EINTR {}
        // P_PIDFD (5.4+): reaps exactly this process, never another child that took its pid.
        var info = siginfo_t()
        guard waitid(idtype_t(rawValue: 3), id_t(fd), &info, WEXITED | WNOHANG) == 0,
              info._sifields._sigchld.si_pid != 0 else { return nil }
        let value = info._sifields._sigchld.si_status
        return info.si_code == Int32(CLD_EXITED) ? "exited with \(value)" : "was killed by signal \(value)"
    }

    /// Kernels without pidfd_open (before 5.3): waitpid for a child, else /proc, every 10 ms.
    func waitWithoutPidfd() -> String? {
        while true {
            var status: Int32 = 0
            let r = waitpid(shimPID, &status, WNOHANG)
            if r == shimPID {
                return (status & 0x7f) != 0 ? "was killed by signal \(status & 0x7f)" : "exited with \((status >> 8) & 0xff)"
            }
            if r < 0 && errno != EINTR && !ProcessStat.isRunning(shimPID, start: shimStart) { return nil }
            usleep(10_000)
        }
    }
}

/// A process's state and start time, from `/proc/PID/stat`.
struct ProcessStat: Equatable {
    /// Field 3: R, S, D, Z (exited, not yet reaped), X…
    var state: Character
    /// Field 22: clock ticks since boot.
    var start: UInt64

    /// nil when there is no such process (or its stat cannot be read).
    static func read(_ pid: pid_t) -> ProcessStat? {
        guard pid > 0, let text = Sys.read("/proc/\(pid)/stat", limit: 4096) else { return nil }
        return parse(text)
    }

    /// Parses a stat line; the command name (field 2) may hold spaces and parentheses, so the
    /// fields are counted from its last ')'.
    static func parse(_ text: String) -> ProcessStat? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let state = fields[0].first, fields[0].count == 1,
              fields[19].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let start = UInt64(fields[19]) else { return nil }
        return ProcessStat(state: state, start: start)
    }

    /// The process `pid` exists, started at `start`, and has not exited.
    static func isRunning(_ pid: pid_t, start: UInt64) -> Bool {
        guard start != 0, let s = read(pid) else { return false }
        return s.start == start && s.state != "Z" && s.state != "X"
    }
}
