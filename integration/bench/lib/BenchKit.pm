package BenchKit;
# Helpers for integration/bench/run and report: files, processes and /proc, the Emperor's life
# cycle with guaranteed cleanup, an HTTP readiness poller, a keep-alive load
# client, small statistics. Core Perl only (Debian's perl package).
use strict;
use warnings;
use Config;
use Errno qw(EINPROGRESS EINTR EAGAIN EWOULDBLOCK ECONNREFUSED ECONNRESET EPIPE);
use Exporter 'import';
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use IO::Select;
use POSIX qw(:sys_wait_h);
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_ERROR SO_REUSEADDR IPPROTO_TCP inet_aton
              pack_sockaddr_in unpack_sockaddr_in PF_UNIX pack_sockaddr_un);
use Time::HiRes ();

our @EXPORT_OK = qw(
    now progress set_quiet become_subreaper proc_stat children_map descendants
    pss_kb pss_total jvm_status cpu_ticks clk_tck
    free_ports listening_unix_under listening_tcp_ports
    start_emperor stop_emperor cleanup_all reap_zombies wait_for
    wait_http_200 hammer open_loop_load http_get_unix log_lines
    median percentile mean fmt_ms fmt_s fmt_mib write_file slurp loadavg
);

# ---------------------------------------------------------------------------
# Clock and progress
# ---------------------------------------------------------------------------
sub now { Time::HiRes::clock_gettime(Time::HiRes::CLOCK_MONOTONIC()) }

# The run's start, shared with the programs it runs (report, throughput) so
# that their progress lines count from it too.
my $T0 = ($ENV{BENCH_T0} // '') =~ /^\d+(?:\.\d+)?$/ ? $ENV{BENCH_T0} : now();
$ENV{BENCH_T0} = $T0;
my $QUIET = 0;
sub set_quiet { $QUIET = $_[0] }

# Progress goes to stderr, prefixed with the elapsed run time.
sub progress {
    return if $QUIET;
    my $e = now() - $T0;
    printf STDERR "[bench %02d:%02d] %s\n", int($e / 60), int($e) % 60, join '', @_;
}

# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------
sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "cannot write $path: $!\n";
    print {$fh} $text;
    close $fh or die "cannot write $path: $!\n";
    return $path;
}

# A file's text, or '' when it cannot be read.
sub slurp {
    open my $fh, '<', $_[0] or return '';
    local $/;
    return scalar <$fh>;
}

# ---------------------------------------------------------------------------
# /proc
# ---------------------------------------------------------------------------
sub loadavg { my $l = slurp('/proc/loadavg'); join ' ', (split ' ', $l)[0 .. 2] }

# Orphans of a crashed Emperor re-parent to us instead of init, so the final
# guard can still find (and end) every process the bench started.
my ($ARCH) = $Config{archname} =~ /^([^-]+)/;

sub become_subreaper {
    my %nr = ('x86_64' => 157, 'aarch64' => 167, 'i386' => 172, 'i686' => 172);
    my $n = $nr{ $ARCH // '' } or return 0;
    return syscall($n, 36, 1, 0, 0, 0) == 0;    # prctl(PR_SET_CHILD_SUBREAPER, 1)
}

# [state, ppid, pgrp, session, utime, stime, starttime] of a pid, or undef.
sub proc_stat {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return undef;
    my $s = <$fh>;
    close $fh;
    return undef unless defined $s;
    my $r = rindex $s, ')';
    return undef if $r < 0;
    my @f = split ' ', substr($s, $r + 2);
    return [@f[0, 1, 2, 3, 11, 12, 19]];
}

# pid => [child pids] for every process.
sub children_map {
    my %kids;
    opendir my $dh, '/proc' or die "cannot read /proc: $!";
    for my $pid (grep /^\d+$/, readdir $dh) {
        my $st = proc_stat($pid) or next;
        push @{ $kids{ $st->[1] } }, $pid;
    }
    closedir $dh;
    return \%kids;
}

# Every descendant of $pid (not $pid itself), breadth first.
sub descendants {
    my ($pid, $kids) = @_;
    $kids ||= children_map();
    my @out;
    my @queue = @{ $kids->{$pid} || [] };
    while (@queue) {
        my $p = shift @queue;
        push @out, $p;
        push @queue, @{ $kids->{$p} || [] };
    }
    return @out;
}

sub pss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/smaps_rollup" or return undef;
    while (<$fh>) {
        return $1 if /^Pss:\s+(\d+)\s+kB/;
    }
    return undef;
}

# Sum of Pss over the given pids: (kB, number of processes counted).
sub pss_total {
    my (@pids) = @_;
    my ($sum, $n) = (0, 0);
    for my $p (@pids) {
        my $k = pss_kb($p);
        next unless defined $k;
        $sum += $k;
        $n++;
    }
    return ($sum, $n);
}

# Threads and VmRSS (kB) of a pid.
sub jvm_status {
    my ($pid) = @_;
    my %st;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (<$fh>) {
        $st{threads} = $1 if /^Threads:\s+(\d+)/;
        $st{rss_kb}  = $1 if /^VmRSS:\s+(\d+)/;
    }
    return \%st;
}

# utime + stime of the given pids, in clock ticks.
sub cpu_ticks {
    my $t = 0;
    for my $p (@_) {
        my $st = proc_stat($p) or next;
        $t += $st->[4] + $st->[5];
    }
    return $t;
}

sub clk_tck { POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100 }

# Listening UNIX sockets whose path starts with $prefix (from /proc/net/unix:
# flags 00010000 = __SO_ACCEPTCON, i.e. listen() was called).
sub listening_unix_under {
    my ($prefix) = @_;
    open my $fh, '<', '/proc/net/unix' or return 0;
    my $n = 0;
    <$fh>;
    while (my $l = <$fh>) {
        my @f = split ' ', $l;
        next unless @f >= 8 && hex($f[3]) & 0x10000;
        $n++ if index($f[7], $prefix) == 0;
    }
    return $n;
}

# Local TCP ports in LISTEN state (IPv4 and IPv6).
sub listening_tcp_ports {
    my %ports;
    for my $file ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $file or next;
        <$fh>;
        while (my $l = <$fh>) {
            my @f = split ' ', $l;
            next unless $f[3] && $f[3] eq '0A';
            my ($port) = $f[1] =~ /:([0-9A-F]+)$/;
            $ports{ hex $port } = 1;
        }
    }
    return \%ports;
}

# $n distinct free TCP ports on 127.0.0.1 (held open together, then released).
sub free_ports {
    my ($n) = @_;
    my (@socks, @ports);
    for (1 .. $n) {
        socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
        bind($s, pack_sockaddr_in(0, inet_aton('127.0.0.1'))) or die "bind: $!";
        my ($port) = unpack_sockaddr_in(getsockname $s);
        push @socks, $s;
        push @ports, $port;
    }
    close $_ for @socks;
    return @ports;
}

# ---------------------------------------------------------------------------
# The Emperor: started in a session of its own (a terminal's Ctrl-C reaches
# only us; we stop it in order), always stopped by cleanup_all(). `cmd` runs
# another Emperor (uWSGI's) in place of `java -jar JAR ARGS`; `stop_signal` is
# what stops it (default TERM; uWSGI's Emperor stops its vassals on INT).
# ---------------------------------------------------------------------------
my %LIVE;    # pid => emperor record

sub start_emperor {
    my (%a) = @_;
    my @cmd = $a{cmd} ? @{ $a{cmd} } : (@{ $a{java} || ['java'] }, '-jar', $a{jar}, @{ $a{args} });
    open my $log, '>', $a{log} or die "cannot write $a{log}: $!";
    my $t = now();
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        POSIX::setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>&', $log;
        open STDERR, '>&', $log;
        $ENV{$_} = $a{env}{$_} for keys %{ $a{env} || {} };
        { no warnings "exec"; exec { $cmd[0] } @cmd; }
        POSIX::_exit(127);
    }
    close $log;
    my $e = { pid => $pid, log => $a{log}, started => $t, mercy => $a{mercy} // 10, cmd => \@cmd,
              stop_signal => $a{stop_signal} // 'TERM' };
    $LIVE{$pid} = $e;
    return $e;
}

sub log_text {
    my ($e) = @_;
    open my $fh, '<', $e->{log} or return '';
    local $/;
    return scalar <$fh>;
}

# The Emperor's timestamped log lines ("2026-11-28 15:49:48.123 ..."): a list of
# [wall-clock seconds (local time, ms), the rest of the line]; lines without a
# timestamp (what vassals print) are left out.
sub log_lines {
    my ($log) = @_;
    open my $fh, '<', $log or return ();
    my @out;
    while (my $l = <$fh>) {
        my ($Y, $M, $D, $h, $m, $sec, $ms, $rest) =
            $l =~ /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)[.,](\d{3}) (.*)/ or next;
        push @out, [POSIX::mktime($sec, $m, $h, $D, $M - 1, $Y - 1900) + $ms / 1000, $rest];
    }
    return @out;
}

# Polls $cond every $step seconds until it returns true or $timeout passes.
sub wait_for {
    my ($timeout, $step, $cond) = @_;
    my $end = now() + $timeout;
    while (1) {
        my $r = $cond->();
        return $r if $r;
        return undef if now() >= $end;
        Time::HiRes::sleep($step);
    }
}

# SIGTERM, wait (the Emperor stops its vassals within its reload mercy), then
# SIGKILL whatever of its tree is left. Returns {status, leftovers}.
sub stop_emperor {
    my ($e) = @_;
    return { status => $e->{status}, leftovers => 0 } unless $LIVE{ $e->{pid} };
    my $pid = $e->{pid};
    my @tree = descendants($pid);
    kill $e->{stop_signal} // 'TERM', $pid;
    my $status;
    my $done = wait_for($e->{mercy} + 20, 0.05, sub {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $status = $?; return 1 }
        return $r < 0;
    });
    if (!$done) {
        progress("Emperor $pid did not stop within ", $e->{mercy} + 20, " s: killing it and its vassals");
        @tree = (descendants($pid), @tree);
        kill 'KILL', $pid;
        waitpid($pid, 0);
        $status = $?;
    }
    delete $LIVE{$pid};
    # Anything of its tree still alive now was left behind (re-parented to us).
    my @left = grep { my $st = proc_stat($_); $st && $st->[0] ne 'Z' } @tree;
    if (@left) {
        progress("warning: ", scalar(@left), " process(es) outlived Emperor $pid: killing @left");
        kill 'KILL', @left;
    }
    reap_zombies();
    $e->{status} = $status;
    return { status => $status, leftovers => scalar @left };
}

sub reap_zombies {
    1 while waitpid(-1, WNOHANG) > 0;
}

# The last guard (END, signals, failures): every Emperor, then every process
# still descending from us, is ended by pid.
my $CLEANING = 0;
sub cleanup_all {
    return if $CLEANING++;
    for my $e (values %LIVE) {
        local $@;
        eval { stop_emperor($e) };
    }
    # our own children first (a script we ran cleans up after itself on
    # SIGTERM: give it the time to), then whatever is still below us
    my $alive = sub { grep { my $st = proc_stat($_); $st && $st->[0] ne 'Z' } @_ };
    my @kids = @{ children_map()->{$$} || [] };
    if (@kids) {
        kill 'TERM', @kids;
        wait_for(10, 0.05, sub { reap_zombies(); !$alive->(@kids) });
    }
    my @rest = grep { $_ != $$ } descendants($$);
    if (@rest) {
        kill 'TERM', @rest;
        wait_for(3, 0.05, sub { !grep { my $st = proc_stat($_); $st && $st->[0] ne 'Z' } @rest });
        kill 'KILL', grep { my $st = proc_stat($_); $st && $st->[0] ne 'Z' } @rest;
    }
    reap_zombies();
    $CLEANING = 0;
}

# ---------------------------------------------------------------------------
# Readiness poller: non-blocking connects to every port, "GET /" as soon as a
# connection is up, done for a port at its first HTTP 200 (with `match`: its
# first 200 whose whole response matches). Returns
# { port => monotonic time of its first 200 } (missing ports: timed out).
# ---------------------------------------------------------------------------
sub _nonblock {
    my ($fh) = @_;
    my $fl = fcntl($fh, F_GETFL, 0) or return;
    fcntl($fh, F_SETFL, $fl | O_NONBLOCK);
}

sub wait_http_200 {
    my (%a) = @_;
    my @ports    = @{ $a{ports} };
    my $interval = $a{interval} // 0.005;
    my $deadline = now() + ($a{timeout} // 120);
    my $max_inflight = $a{max_inflight} // 256;
    my $path     = $a{path} // '/';
    my $match    = $a{match};              # a regex the whole response must match (read to EOF)
    my $on_tick  = $a{on_tick};            # called about once a second with (#done, #total)
    my %done;
    my %conn;                              # port => {fh, state: connecting|sent, buf}
    my @pending = @ports;
    my $next_report = now() + 1;
    my $req = "GET $path HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";

    while (keys(%done) < @ports && now() < $deadline) {
        my $tick_end = now() + $interval;
        # start a connection to each waiting port (bounded)
        my @retry;
        for my $port (@pending) {
            if (keys(%conn) >= $max_inflight) { push @retry, $port; next }
            socket(my $fh, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
            _nonblock($fh);
            if (connect($fh, pack_sockaddr_in($port, inet_aton('127.0.0.1')))) {
                if (syswrite($fh, $req)) { $conn{$port} = { fh => $fh, state => 'sent', buf => '' } }
                else { close $fh; push @retry, $port }
            }
            elsif ($! == EINPROGRESS) {
                $conn{$port} = { fh => $fh, state => 'connecting', buf => '' };
            }
            else {    # refused: nobody listens yet
                close $fh;
                push @retry, $port;
            }
        }
        @pending = ();
        # wait for progress until the end of this tick
        while (%conn) {
            my $left = $tick_end - now();
            last if $left <= 0;
            my ($rin, $win) = ('', '');
            for my $c (values %conn) {
                vec($c->{state} eq 'connecting' ? $win : $rin, fileno $c->{fh}, 1) = 1;
            }
            my $n = select(my $rout = $rin, my $wout = $win, undef, $left);
            last if $n <= 0;
            my $t = now();
            for my $port (keys %conn) {
                my $c = $conn{$port};
                my $fd = fileno $c->{fh};
                if ($c->{state} eq 'connecting' && vec($wout, $fd, 1)) {
                    my $err = unpack 'i', getsockopt($c->{fh}, SOL_SOCKET, SO_ERROR);
                    if ($err || !syswrite($c->{fh}, $req)) {
                        close $c->{fh}; delete $conn{$port}; push @retry, $port;
                    }
                    else { $c->{state} = 'sent' }
                }
                elsif ($c->{state} eq 'sent' && vec($rout, $fd, 1)) {
                    my $r = sysread($c->{fh}, $c->{buf}, 4096, length $c->{buf});
                    next if !defined($r) && ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR);
                    my ($code) = $c->{buf} =~ m{\AHTTP/1\.[01] (\d{3})};
                    if ($code && (!$match || !$r)) {    # with a match: the whole response (HTTP/1.0 ends at EOF)
                        close $c->{fh}; delete $conn{$port};
                        if ($code == 200 && (!$match || $c->{buf} =~ $match)) { $done{$port} = $t }
                        else { push @retry, $port }
                    }
                    elsif (!$r) {    # EOF or error before a status line
                        close $c->{fh}; delete $conn{$port}; push @retry, $port;
                    }
                }
            }
        }
        my $left = $tick_end - now();
        Time::HiRes::sleep($left) if $left > 0;
        push @pending, @retry;
        if ($on_tick && now() >= $next_report) {
            $on_tick->(scalar(keys %done), scalar @ports);
            $next_report = now() + 1;
        }
    }
    close $_->{fh} for values %conn;
    return \%done;
}

# ---------------------------------------------------------------------------
# Load: $count keep-alive GETs to each port, one connection per port, all
# ports in parallel. Returns {ok, errors, reconnects, seconds}.
# ---------------------------------------------------------------------------
sub _connect_blocking {
    my ($port) = @_;
    socket(my $fh, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    connect($fh, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or return undef;
    setsockopt($fh, IPPROTO_TCP, 1, 1);    # TCP_NODELAY
    _nonblock($fh);
    return $fh;
}

sub hammer {
    my (%a) = @_;
    my $count = $a{count};
    my $path  = $a{path} // '/';
    my $deadline = now() + ($a{timeout} // 300);
    my $req = "GET $path HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    my %st;
    my ($ok, $errors, $reconnects) = (0, 0, 0);
    my $t0 = now();
    for my $port (@{ $a{ports} }) {
        $st{$port} = { done => 0, buf => '' };
    }
    my $open = sub {
        my ($port) = @_;
        my $s = $st{$port};
        $s->{fh} = _connect_blocking($port);
        $s->{buf} = '';
        if (!$s->{fh}) { $errors++; return 0 }
        syswrite($s->{fh}, $req) or do { $errors++; close $s->{fh}; $s->{fh} = undef; return 0 };
        return 1;
    };
    for my $port (keys %st) { $open->($port) }
    my $next_report = now() + 1;
    while (now() < $deadline) {
        last if $errors > 100 * keys %st;    # something is badly wrong: give up
        my @active = grep { $st{$_}{fh} } keys %st;
        for my $port (grep { !$st{$_}{fh} && $st{$_}{done} < $count } keys %st) {
            $reconnects++;
            push @active, $port if $open->($port);
        }
        last unless @active;
        my $rin = '';
        vec($rin, fileno $st{$_}{fh}, 1) = 1 for @active;
        my $n = select(my $rout = $rin, undef, undef, 1);
        next if $n <= 0;
        for my $port (@active) {
            my $s = $st{$port};
            next unless vec($rout, fileno $s->{fh}, 1);
            my $r = sysread($s->{fh}, $s->{buf}, 65536, length $s->{buf});
            next if !defined($r) && ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR);
            if (!$r) {    # closed by the server: a response in flight is lost
                $errors++;
                close $s->{fh}; $s->{fh} = undef;
                next;
            }
            while (1) {
                my $he = index $s->{buf}, "\r\n\r\n";
                last if $he < 0;
                my $head = substr $s->{buf}, 0, $he;
                my ($code) = $head =~ m{\AHTTP/1\.[01] (\d{3})};
                my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
                $len //= 0;
                last if length($s->{buf}) < $he + 4 + $len;
                substr($s->{buf}, 0, $he + 4 + $len, '');
                $s->{done}++;
                ($code // 0) == 200 ? $ok++ : $errors++;
                my $close = $head =~ /^Connection:\s*close/mi || $head =~ m{\AHTTP/1\.0};
                if ($close || $s->{done} >= $count) {
                    close $s->{fh}; $s->{fh} = undef;
                    last;
                }
                syswrite($s->{fh}, $req) or do { $errors++; close $s->{fh}; $s->{fh} = undef; last };
            }
        }
        if ($a{on_tick} && now() >= $next_report) {
            my $d = 0;
            $d += $_->{done} for values %st;
            $a{on_tick}->($d, $count * keys %st);
            $next_report = now() + 1;
        }
    }
    close $_->{fh} for grep { $_->{fh} } values %st;
    return { ok => $ok, errors => $errors, reconnects => $reconnects, seconds => now() - $t0,
             complete => !grep { $_->{done} < $count } values %st };
}

# ---------------------------------------------------------------------------
# A readiness set for many sockets: watch(FD, 'r'|'w') (again to switch),
# forget(FD) before closing it, wait(SECONDS) -> the ready FDs (readable or
# writable as watched, or in error), close(). epoll through syscall(2) where
# the bench knows its numbers (x86_64, aarch64): a select() over the 10,000
# sockets a stalled server leaves open costs the kernel several ms a call
# (most of a core at 200 calls/s); select() elsewhere.
# ---------------------------------------------------------------------------
my %EPOLL = (x86_64  => { create1 => 291, ctl => 233, pwait => 281, event => 'LQ' },      # packed: 12 bytes
             aarch64 => { create1 => 20,  ctl => 21,  pwait => 22,  event => 'Lx4Q' });   # 16 bytes

sub readiness_set {
    my $ep = $EPOLL{ $ARCH // '' };
    my $epfd = $ep ? syscall($ep->{create1}, 0) : -1;
    if ($epfd >= 0) {
        my ($size, $max, %on) = (length(pack $ep->{event}, 0, 0), 1024);
        my $buf = "\0" x ($size * $max);
        return {
            watch => sub {
                my ($fd, $dir) = @_;
                my $op = exists $on{$fd} ? 3 : 1;    # EPOLL_CTL_MOD : EPOLL_CTL_ADD
                $on{$fd} = 1;
                syscall($ep->{ctl}, $epfd, $op, $fd, pack($ep->{event}, $dir eq 'r' ? 0x001 : 0x004, $fd)) == 0
                    or die "epoll_ctl: $!\n";    # EPOLLIN : EPOLLOUT
            },
            forget => sub { delete $on{ $_[0] } },    # closing the fd takes it out of the set
            wait => sub {
                my $n = syscall($ep->{pwait}, $epfd, $buf, $max, int($_[0] * 1000 + 0.5), 0, 8);
                return map { (unpack $ep->{event}, substr($buf, $_ * $size, $size))[1] } 0 .. $n - 1;
            },
            close => sub { POSIX::close($epfd) },
        };
    }
    my ($rin, $win) = ('', '');
    return {
        watch => sub { vec($_[1] eq 'r' ? $rin : $win, $_[0], 1) = 1; vec($_[1] eq 'r' ? $win : $rin, $_[0], 1) = 0 },
        forget => sub { vec($rin, $_[0], 1) = 0; vec($win, $_[0], 1) = 0 },
        wait => sub {
            select(my $r = $rin, my $w = $win, undef, $_[0]) > 0 or return;
            my ($bits, $fd, @fds) = (unpack('b*', $r | $w), -1);
            push @fds, $fd while ($fd = index($bits, '1', $fd + 1)) >= 0;
            return @fds;
        },
        close => sub {},
    };
}

# ---------------------------------------------------------------------------
# Open-loop load: requests start at a fixed rate whatever the servers do (a
# stalled server does not slow the arrivals down), round-robin over the ports,
# a new connection per request (HTTP/1.0, the server closes). A request
# succeeds with a complete 200, or fails: refused, reset, closed early (EOF
# before a complete answer), another status, or no complete answer within
# `timeout` s; a request due while `max_inflight` are open is not sent and
# counted as such. The version each body names (`version_re`, default
# /^code (\S+)/m) is tracked per port: a port's first answer naming a version
# is written to the `notify` handle at once, as
# "first PORT_INDEX VERSION MONOTONIC_TIME\n"; a "flip" is an answer naming
# another version than the one the port named first most recently (an old
# generation still answering). Runs until stop->() is true or `duration` s
# have passed, then waits for what is in flight (up to `timeout`). Returns
# counts, its own CPU time, latencies (p50, p99, max of the successes; how
# many took > 1 s), the failures by kind (and the first few), per-port first
# and last times of each version, and per-`bucket` counts of successes,
# failures and flips (times relative to `t_ref`).
# ---------------------------------------------------------------------------
sub open_loop_load {
    my (%a) = @_;
    my @ports = @{ $a{ports} };
    my @addr = map { pack_sockaddr_in($_, inet_aton('127.0.0.1')) } @ports;
    my $rate = $a{rate} or die "open_loop_load: no rate\n";
    my $timeout = $a{timeout} // 10;
    my $max_inflight = $a{max_inflight} // 4000;
    my $bucket = $a{bucket} // 0.25;
    my $t_ref = $a{t_ref} // now();
    my $version_re = $a{version_re} // qr/^code (\S+)/m;
    my ($notify, $stop) = @a{qw(notify stop)};
    my $req = "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    my $t_start = now();
    my @cpu0 = times;
    my $end = $t_start + ($a{duration} // 600);
    my %c;    # fd => {fh, i (port index), t0, state: connecting|sent, buf}
    my @order;    # [fd, request] in the order they started: the timeouts, oldest first
    my $ready = readiness_set();
    my (@lat, %fail, @samples, %bk, %first, %last, @newest);
    my ($issued, $sent, $ok, $not_sent, $flips, $first_fail, $last_fail) = (0, 0, 0, 0, 0);
    my $bump = sub { $bk{ POSIX::floor(($_[0] - $t_ref) / $bucket) } //= { ok => 0, failed => 0, flips => 0 } };
    my $done = sub {    # a request is over: $kind undef = success
        my ($fd, $t, $kind, $what, $version) = @_;
        my $x = delete $c{$fd};
        $ready->{forget}->($fd);
        close $x->{fh};
        if (defined $kind) {
            $fail{$kind}++;
            $bump->($t)->{failed}++;
            $first_fail //= $t;
            $last_fail = $t;
            push @samples, { t => $t - $t_ref, port => $ports[ $x->{i} ], kind => $kind, what => $what } if @samples < 20;
            return;
        }
        $ok++;
        push @lat, $t - $x->{t0};
        $bump->($t)->{ok}++;
        return unless defined $version;
        my $i = $x->{i};
        $last{$version}[$i] = $t;
        if (!defined $first{$version}[$i]) {
            $first{$version}[$i] = $t;
            $newest[$i] = $version;
            syswrite($notify, sprintf "first %d %s %.6f\n", $i, $version, $t) if $notify;
        }
        elsif ($version ne $newest[$i]) { $flips++; $bump->($t)->{flips}++ }
    };
    my $errkind = sub { my $e = $_[0] + 0; $e == ECONNREFUSED ? 'refused' : $e == ECONNRESET || $e == EPIPE ? 'reset' : 'error' };
    my $stopping = 0;
    my ($next_timeouts, $drain_end) = (0, undef);
    while (1) {
        my $t = now();
        if (!$stopping && (($stop && $stop->()) || $t >= $end)) { $stopping = 1; $drain_end = $t + $timeout + 1 }
        if (!$stopping) {    # start what is due by now
            my $due = int(($t - $t_start) * $rate) + 1 - $issued;
            while ($due-- > 0) {
                my $i = $issued++ % @ports;
                if (keys(%c) >= $max_inflight) { $not_sent++; $fail{"not sent"}++; $bump->($t)->{failed}++; next }
                socket(my $fh, PF_INET, SOCK_STREAM, 0) or do { $fail{"socket: $!"}++; next };
                _nonblock($fh);
                my $fd = fileno $fh;
                $c{$fd} = { fh => $fh, i => $i, t0 => now(), buf => '' };
                push @order, [$fd, $c{$fd}];
                $sent++;
                if (connect($fh, $addr[$i])) {
                    if (syswrite($fh, $req)) { $c{$fd}{state} = 'sent'; $ready->{watch}->($fd, 'r') }
                    else { $done->($fd, now(), $errkind->($!), "write: $!") }
                }
                elsif ($! == EINPROGRESS) { $c{$fd}{state} = 'connecting'; $ready->{watch}->($fd, 'w') }
                else { $done->($fd, now(), $errkind->($!), "connect: $!") }
            }
        }
        if ($t >= $next_timeouts || $stopping) {    # give up on what is too slow
            while (@order && (!$c{ $order[0][0] } || $c{ $order[0][0] } != $order[0][1] || $t - $order[0][1]{t0} > $timeout)) {
                my ($fd, $x) = @{ shift @order };
                next unless $c{$fd} && $c{$fd} == $x;    # over already (its fd may serve a later request)
                $done->($fd, $t, 'timeout', sprintf('no complete answer within %g s', $timeout));
            }
            if ($stopping && $t >= $drain_end) { $done->($_, $t, 'timeout', 'still open at the end') for keys %c }
            $next_timeouts = $t + 0.05;
        }
        last if $stopping && !%c;
        # until the next request is due, at most 5 ms: the arrivals come in small batches
        my $wait = $stopping ? 0.05 : ($issued + 1) / $rate - ($t - $t_start);
        $wait = 0.005 if $wait > 0.005 || $wait < 0;
        my @fds = $ready->{wait}->($wait);
        next unless @fds;
        my $tn = now();
        for my $fd (@fds) {
            my $x = $c{$fd} or next;
            if ($x->{state} eq 'connecting') {
                my $err = unpack 'i', getsockopt($x->{fh}, SOL_SOCKET, SO_ERROR);
                if ($err) { local $! = $err; $done->($fd, $tn, $errkind->($err), "connect: $!"); next }
                if (!syswrite($x->{fh}, $req)) { $done->($fd, $tn, $errkind->($!), "write: $!"); next }
                $x->{state} = 'sent';
                $ready->{watch}->($fd, 'r');
                next;
            }
            my $r = sysread($x->{fh}, $x->{buf}, 65536, length $x->{buf});
            next if !defined($r) && ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR);
            if (!defined $r) { $done->($fd, $tn, $errkind->($!), "read: $!"); next }
            next if $r;    # more to come: the server closes at the end
            my $he = index $x->{buf}, "\r\n\r\n";
            my ($code) = $x->{buf} =~ m{\AHTTP/1\.[01] (\d{3})};
            if (!$code || $he < 0) { $done->($fd, $tn, 'closed early', 'EOF before a complete head'); next }
            my $body = substr $x->{buf}, $he + 4;
            my ($len) = substr($x->{buf}, 0, $he) =~ /^Content-Length:\s*(\d+)/mi;
            if (defined $len && length($body) != $len) {
                $done->($fd, $tn, 'closed early', sprintf('body of %d bytes, Content-Length %d', length $body, $len));
                next;
            }
            if ($code != 200) { $done->($fd, $tn, "HTTP $code", "status $code"); next }
            my ($version) = $body =~ $version_re;
            $done->($fd, $tn, undef, undef, $version);
        }
    }
    my %versions;
    for my $v (keys %first) {
        $versions{$v} = { first => [map { defined $_ ? $_ - $t_ref : undef } @{ $first{$v} }[0 .. $#ports]],
                          last  => [map { defined $_ ? $_ - $t_ref : undef } @{ $last{$v} }[0 .. $#ports]] };
    }
    $ready->{close}->();
    my $failed = 0;
    $failed += $_ for values %fail;
    my $secs = now() - $t_start;
    my @cpu1 = times;
    return { rate => $rate, timeout => $timeout, seconds => $secs, sent => $sent, ok => $ok, failed => $failed,
             cpu_s => $cpu1[0] + $cpu1[1] - $cpu0[0] - $cpu0[1],
             not_sent => $not_sent, by_kind => \%fail, fail_samples => \@samples,
             first_fail => defined $first_fail ? $first_fail - $t_ref : undef,
             last_fail => defined $last_fail ? $last_fail - $t_ref : undef,
             p50 => median(@lat), p99 => percentile(99, @lat), max => @lat ? (sort { $b <=> $a } @lat)[0] : undef,
             slow_1s => scalar(grep { $_ > 1 } @lat),
             flips => $flips, versions => \%versions, bucket => $bucket,
             buckets => [map { { t => $_ * $bucket, %{ $bk{$_} } } } sort { $a <=> $b } keys %bk] };
}

# One GET over a UNIX stream socket; returns (status, seconds) or ().
sub http_get_unix {
    my ($path, $timeout) = @_;
    my $t = now();
    socket(my $fh, PF_UNIX, SOCK_STREAM, 0) or return;
    connect($fh, pack_sockaddr_un($path)) or return;
    syswrite($fh, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n") or return;
    my $buf = '';
    my $sel = IO::Select->new($fh);
    my $end = $t + ($timeout // 30);
    while (now() < $end) {
        last unless $sel->can_read($end - now());
        my $r = sysread($fh, $buf, 4096, length $buf);
        last if !$r || $buf =~ m{\AHTTP/1\.[01] \d{3}};
    }
    close $fh;
    my ($code) = $buf =~ m{\AHTTP/1\.[01] (\d{3})} or return;
    return ($code, now() - $t);
}

# ---------------------------------------------------------------------------
# Statistics and formatting
# ---------------------------------------------------------------------------
sub percentile {    # nearest rank
    my ($p, @v) = @_;
    return undef unless @v;
    @v = sort { $a <=> $b } @v;
    my $rank = int(($p / 100) * @v + 0.999999);
    $rank = 1 if $rank < 1;
    $rank = @v if $rank > @v;
    return $v[$rank - 1];
}

sub median {
    my @v = sort { $a <=> $b } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub mean { return undef unless @_; my $s = 0; $s += $_ for @_; $s / @_ }

sub fmt_ms  { defined $_[0] ? sprintf('%.1f', $_[0] * 1000) : 'n/a' }
sub fmt_s   { defined $_[0] ? sprintf($_[0] < 10 ? '%.3f' : '%.2f', $_[0]) : 'n/a' }
sub fmt_mib { defined $_[0] ? sprintf('%.1f', $_[0] / 1024) : 'n/a' }

1;
