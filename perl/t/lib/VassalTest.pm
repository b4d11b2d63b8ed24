package VassalTest;
# Helpers for the Vassal tests (perl/t, and the cross-language tests of the
# repository's t/): spawn psgi-vassal under a fake Emperor, read Emperor
# bytes, talk raw HTTP, play the Emperor to a fork server, and clean every
# process up even on failure. Everything a test loads is inside perl/t, so the
# tests run from the unpacked CPAN tarball as from the checkout.
use strict;
use warnings;
use Exporter 'import';
use Cwd ();
use File::Spec;
use File::Temp ();
use FindBin;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC);
use Time::HiRes qw(sleep time);
use Net::EmptyPort qw(empty_port wait_port);
use Test::More ();

our @EXPORT = qw(
    vectors_dir psgi_vassal blib_dir tempdir write_file slurp
    emperor_pair spawn_vassal read_bytes expect_bytes no_byte_within
    http_raw http_get empty_port wait_port wait_for_log
    children_of descendants_of fd_count process_alive wait_gone exit_status reap_all test_app
    fork_request parent_of start_base adopt_vassal
    http_connect http_roundtrip read_response
    start_vassal stop_vassal uwsgi_packet uwsgi_roundtrip unix_connect is_closed
    held_socket nobody_blocker
);

# perl/t, wherever the test that loads us lives (perl/t or the repository's t/)
my $T = Cwd::abs_path(File::Spec->catdir((File::Spec->splitpath(__FILE__))[1], '..'));

# the copy of ../shared/vectors that ships with the distribution (the
# repository's t/16perl_vectors_copy.t keeps it identical)
sub vectors_dir { "$T/vectors" }
sub psgi_vassal { Cwd::abs_path("$T/../bin/psgi-vassal") }
sub blib_dir    { Cwd::abs_path("$T/../blib") }
sub test_app    { Cwd::abs_path("$T/apps/$_[0]") }
sub tempdir     { File::Temp::tempdir('vassal-test-XXXXXX', TMPDIR => 1, CLEANUP => 1) }

sub write_file {
    my ($path, $content) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $content;
    close $fh;
    return $path;
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return '';
    local $/;
    return scalar(<$fh>) // '';
}

# Returns ($emperor_end, $vassal_end) of a fresh Emperor pipe.
sub emperor_pair {
    socketpair(my $e, my $v, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
    return ($e, $v);
}

my @SPAWNED;    # process group ids to kill at the end
my $OWNER = $$;

# a failing test must still reach END (which kills what it started)
$SIG{PIPE} = 'IGNORE';
$SIG{$_} = sub { die "killed by SIG$_[0]\n" } for qw(INT TERM HUP);

# spawn_vassal(args => [...], emperor => $vassal_end, stderr => $file, env => {},
#              stdin => $handle, keep => [$handle, ...])
# runs bin/psgi-vassal in its own process group and returns its pid. Its fd
# 0 is /dev/null, or $handle (as an Emperor passes a held socket); the
# handles in keep stay open across the exec, at their numbers.
sub spawn_vassal {
    my (%a) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);
        $SIG{$_} = 'DEFAULT' for qw(PIPE INT TERM HUP);
        if (my $v = $a{emperor}) {
            my $flags = fcntl($v, POSIX::F_GETFD(), 0);
            fcntl($v, POSIX::F_SETFD(), $flags & ~POSIX::FD_CLOEXEC());
            $ENV{UWSGI_EMPEROR_FD} = fileno $v;
        }
        else {
            delete $ENV{UWSGI_EMPEROR_FD};
        }
        delete $ENV{UWSGI_EMPEROR_FD_CONFIG};
        %ENV = (%ENV, %{ $a{env} || {} });
        if ($a{stderr}) {
            open STDERR, '>>', $a{stderr} or POSIX::_exit(127);
        }
        if ($a{stdin}) {
            POSIX::dup2(fileno $a{stdin}, 0) // POSIX::_exit(127);
        }
        else {
            open STDIN, '<', '/dev/null';
        }
        for my $fh (@{ $a{keep} || [] }) {
            my $flags = fcntl($fh, POSIX::F_GETFD(), 0);
            fcntl($fh, POSIX::F_SETFD(), $flags & ~POSIX::FD_CLOEXEC());
        }
        my @cmd = $a{cmd} ? @{ $a{cmd} } : ($^X, psgi_vassal(), @{ $a{args} || [] });
        { no warnings 'exec'; exec @cmd; }
        POSIX::_exit(127);
    }
    push @SPAWNED, $pid;
    return $pid;
}

END {
    local $?;
    if ($$ == $OWNER) {
        # everything we started, and everything below us: adopted vassals
        # leave their group, and re-parent to us when we are a subreaper
        my @all = (descendants_of($$), map { descendants_of($_) } @SPAWNED);
        kill 'KILL', -$_ for @SPAWNED;
        kill 'KILL', @all if @all;
        reap_all(3) if @SPAWNED || @all;
    }
}

# Reads up to $count bytes (as numbers) within $timeout seconds; stops early on EOF.
sub read_bytes {
    my ($fh, $count, $timeout) = @_;
    my @got;
    my $deadline = time + $timeout;
    while (@got < $count) {
        my $left = $deadline - time;
        last if $left <= 0;
        my $rin = '';
        vec($rin, fileno $fh, 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, $left);
        next if $n < 0;
        last if $n == 0;
        my $r = sysread $fh, my $buf, $count - @got;
        last unless $r;
        push @got, map ord, split //, $buf;
    }
    return @got;
}

sub expect_bytes {
    my ($fh, $want, $timeout, $name) = @_;
    my @got = read_bytes($fh, scalar @$want, $timeout);
    Test::More::is_deeply(\@got, $want, $name)
        or Test::More::diag("got bytes [@got], expected [@$want]");
    return @got;
}

sub no_byte_within {
    my ($fh, $secs) = @_;
    my $rin = '';
    vec($rin, fileno $fh, 1) = 1;
    my $n = select(my $rout = $rin, undef, undef, $secs);
    return $n == 0;
}

# Sends raw bytes to 127.0.0.1:$port, reads until EOF (or $timeout); returns the response text.
sub http_raw {
    my ($port, $request, %opt) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
        or die "connect 127.0.0.1:$port: $!";
    my $off = 0;
    while ($off < length $request) {
        my $n = syswrite $sock, $request, 65536, $off;
        last unless defined $n;    # the server may close early (reset): that is an answer too
        $off += $n;
    }
    shutdown($sock, 1) if $opt{shutdown};
    my $out = '';
    my $deadline = time + ($opt{timeout} // 5);
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno $sock, 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, $deadline - time);
        last if $n <= 0;
        my $r = sysread $sock, $out, 65536, length $out;
        last unless $r;
        last if $opt{until} && $out =~ $opt{until};
    }
    return $out;
}

sub http_connect {
    my ($port) = @_;
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5)
        || die "connect 127.0.0.1:$port: $!";
}

my %PENDING;    # bytes read past a response (pipelining), by socket

# Reads one response from $sock: returns {status, headers => {lc name => value},
# body, raw_body, closed}. $head_only for a response to HEAD.
sub read_response {
    my ($sock, $head_only, $timeout) = @_;
    my $buf = delete $PENDING{"$sock"} // '';
    my $deadline = time + ($timeout // 10);
    my $fill = sub {
        my $rin = '';
        vec($rin, fileno $sock, 1) = 1;
        my $left = $deadline - time;
        return 0 if $left <= 0;
        return 0 unless select(my $rout = $rin, undef, undef, $left) > 0;
        return sysread($sock, $buf, 65536, length $buf) || 0;
    };
    until ($buf =~ /\r\n\r\n/) { $fill->() or return undef }
    $buf =~ s/\A(.*?)\r\n\r\n//s;
    my ($line, @h) = split /\r\n/, $1;
    my ($status) = $line =~ m{\AHTTP/1\.[01] ([0-9]{3})} or return undef;
    my %h;
    for (@h) { my ($k, $v) = /\A([^:]+):\s*(.*)\z/; $h{lc $k} = $v }
    my $res = { status => $status, status_line => $line, headers => \%h };
    if ($head_only || $status =~ /\A(?:1..|204|304)\z/) {
        $res->{body} = ''; $res->{extra} = $buf;
        $PENDING{"$sock"} = $buf if length $buf;
        return $res;
    }
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $body = '';
        my $raw = '';
        while (1) {
            until ($buf =~ /\A[0-9a-fA-F]+\r\n/) { $fill->() or return undef }
            my ($hex) = $buf =~ /\A([0-9a-fA-F]+)\r\n/;
            my $size = hex $hex;
            until (length $buf >= length($hex) + 2 + $size + 2) { $fill->() or return undef }
            $raw .= substr($buf, 0, length($hex) + 2 + $size + 2);
            $buf =~ s/\A[0-9a-fA-F]+\r\n//;
            $body .= substr($buf, 0, $size, '');
            substr($buf, 0, 2, '');
            last if $size == 0;
        }
        @$res{qw(body raw_body)} = ($body, $raw);
    }
    elsif (defined $h{'content-length'}) {
        until (length $buf >= $h{'content-length'}) { $fill->() or return undef }
        $res->{body} = substr($buf, 0, $h{'content-length'}, '');
    }
    else {
        1 while $fill->();
        $res->{body} = $buf; $buf = '';
        $res->{closed} = 1;
    }
    $res->{extra} = $buf;
    $PENDING{"$sock"} = $buf if length $buf;
    return $res;
}

sub http_roundtrip {
    my ($sock, $request, $head_only) = @_;
    syswrite $sock, $request;
    return read_response($sock, $head_only);
}

sub http_get {
    my ($port, $path) = @_;
    require HTTP::Tiny;
    return HTTP::Tiny->new(timeout => 5)->get("http://127.0.0.1:$port$path");
}

sub wait_for_log {
    my ($file, $re, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (time < $deadline) {
        return 1 if slurp($file) =~ $re;
        sleep 0.05;
    }
    return slurp($file) =~ $re;
}

# Plays the Emperor: connects to the fork server at $path and sends one
# request with @$fds attached. Returns (pid, undef) from the reply, or
# (undef, reason) when it could not connect or the server closed the
# connection without replying.
sub fork_request {
    my ($path, $mask, $argv, $fds, %opt) = @_;
    require IO::Socket::UNIX;
    require Vassal::XS;
    require Vassal::Packet;
    my $conn = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path)
        or return (undef, "connect $path: $!");
    my $bytes = $opt{raw} // Vassal::Packet::encode_fork_request($mask, @$argv);
    if (@$fds) { Vassal::XS::send_fds(fileno $conn, $bytes, $fds) }
    else       { syswrite $conn, $bytes }
    shutdown($conn, 1) if $opt{shutdown};
    my $reply = eval { Vassal::XS::recv_request(fileno $conn, $opt{timeout} // 10) };
    return (undef, $@) unless $reply;
    my %d = Vassal::Packet::decode_dict($reply->{body});
    return ($d{pid}, $reply->{modifier1} == 35 ? undef : "modifier1 $reply->{modifier1}");
}

sub parent_of {
    my ($pid) = @_;
    my ($ppid) = slurp("/proc/$pid/stat") =~ /\)\s+\S+\s+([0-9]+)/;
    return $ppid;
}

# Starts a fork-server base vassal preloading t/apps/hello.psgi
# (or early_psgi => $path; stdin => $handle as for spawn_vassal; extra =>
# more ini lines). Its socket is $dir/fork.sock, its log $dir/base.log
# (appended to: several generations in one $dir share both).
# Returns ($pid, $emperor_end, $socket_path, $log_path, $dir).
sub start_base {
    my (%opt) = @_;
    my $app = $opt{early_psgi} // test_app('hello.psgi');
    my $dir = $opt{dir} // tempdir();
    my $ini = write_file("$dir/base.ini", "[uwsgi]\nearly-psgi = $app\n"
        . "fork-server = %dfork.sock\nmaster = true\n" . ($opt{extra} // ''));
    my ($e, $v) = emperor_pair();
    my $log = "$dir/base.log";
    my $pid = spawn_vassal(args => ['--ini', $ini], emperor => $v, stderr => $log, stdin => $opt{stdin});
    close $v;
    return ($pid, $e, "$dir/fork.sock", $log, $dir);
}

# Plays the Emperor asking the fork server at $path to adopt a vassal with
# argv [psgi-vassal, @$args], its Emperor pipe and then @$fds attached
# (mask: 0x01, | 0x04 with an on-demand socket), and waits for bytes 1 and
# 5. Returns a hash for stop_vassal: pid, emperor (our end).
sub adopt_vassal {
    my ($path, $mask, $args, $fds, $log) = @_;
    my ($e, $v) = emperor_pair();
    my ($pid, $err) = fork_request($path, $mask, [psgi_vassal(), @$args], [fileno $v, map { fileno $_ } @$fds]);
    close $v;
    Test::More::ok($pid, 'adopted') or Test::More::diag($err // '', $log ? slurp($log) : '');
    expect_bytes($e, [1, 5], 15, 'ready and accepting');
    return { pid => $pid, emperor => $e };
}

# Starts bin/psgi-vassal under a fake Emperor with @args (an http-socket on
# a free port is added unless the args name an http-socket: a uwsgi --socket
# or --socket-timeout do not count) and waits for bytes 1 and 5. Returns a
# hash: pid, emperor (our end), port, log, dir.
sub start_vassal {
    my (%o) = @_;
    my $dir = $o{dir} // tempdir();
    my $port = $o{port} // empty_port();
    my @args = @{ $o{args} || [] };
    push @args, '--http-socket', "127.0.0.1:$port"
        unless $o{no_http} || grep { /\A--http-socket(?:=|\z)/ } @args;
    push @args, '--psgi', test_app($o{app} // 'test.psgi') unless $o{no_app} || grep { $_ eq '--psgi' || $_ eq '--ini' } @args;
    my ($e, $v) = emperor_pair();
    my $log = $o{log} // "$dir/vassal.log";
    my $pid = spawn_vassal(args => \@args, emperor => $v, stderr => $log, env => $o{env},
                           stdin => $o{stdin}, keep => $o{keep});
    close $v;
    my @got = read_bytes($e, 2, $o{timeout} // 20);
    Test::More::is_deeply(\@got, [1, 5], "vassal $pid is ready (1) and accepting (5)")
        or Test::More::diag(slurp($log));
    return { pid => $pid, emperor => $e, port => $port, log => $log, dir => $dir };
}

# A listening socket the test holds, as an Emperor holds a vassal's socket
# and hands it to every generation: TCP on 127.0.0.1 (returns ($sock, $port))
# or, given a path, UNIX (returns ($sock, $path)).
sub held_socket {
    my ($path) = @_;
    if (defined $path) {
        require IO::Socket::UNIX;
        my $sock = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path, Listen => 128)
            or die "listen $path: $!";
        return ($sock, $path);
    }
    my $port = empty_port();
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 128, ReuseAddr => 1)
        or die "listen 127.0.0.1:$port: $!";
    return ($sock, $port);
}

# Byte 0 to the vassal, then waits for it and its workers to be gone.
sub stop_vassal {
    my ($v) = @_;
    my @workers = children_of($v->{pid});
    syswrite $v->{emperor}, chr(0);
    return wait_gone(15, $v->{pid}, @workers);
}

# One uwsgi request packet: modifier1, the vars (a list of pairs) as the dict.
sub uwsgi_packet {
    my ($vars, %o) = @_;
    require Vassal::Packet;
    my $body = Vassal::Packet::encode_dict($vars);
    return Vassal::Packet::encode_packet($o{modifier1} // 0, 0, $body);
}

# Sends a uwsgi request (packet and body) on a new connection to $addr (a
# port on 127.0.0.1, or a UNIX socket path) and reads the answer to EOF.
sub uwsgi_roundtrip {
    my ($addr, $vars, $body, %o) = @_;
    my $sock = $addr =~ /\A[0-9]+\z/ ? http_connect($addr) : unix_connect($addr);
    my $data = ($o{raw} // uwsgi_packet($vars, %o)) . ($body // '');
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite $sock, $data, 65536, $off;
        die "write: $!" unless defined $n;
        $off += $n;
    }
    my $out = '';
    my $deadline = time + ($o{timeout} // 10);
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno $sock, 1) = 1;
        last unless select(my $rout = $rin, undef, undef, $deadline - time) > 0;
        my $r = sysread $sock, $out, 65536, length $out;
        last unless $r;
    }
    return $out;
}

sub unix_connect {
    my ($path) = @_;
    require IO::Socket::UNIX;
    return IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path) || die "connect $path: $!";
}

# Has the server closed $sock (EOF or reset) within $timeout seconds?
sub is_closed {
    my ($sock, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno $sock, 1) = 1;
        next unless select(my $rout = $rin, undef, undef, $deadline - time) > 0;
        my $r = sysread $sock, my $buf, 65536;
        return 1 if !$r;    # EOF (0) or error (undef: reset)
    }
    return 0;
}

# Why this test cannot run code as user nobody, or undef when it can: root
# is needed to switch, and nobody must be able to read the build - not so
# when the distribution was unpacked in a private (0700) directory.
sub nobody_blocker {
    return 'switching to user nobody needs root' unless $> == 0;
    my ($uid, $gid) = (getpwnam('nobody'))[2, 3];
    return 'no user nobody' unless defined $uid;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        POSIX::setgid($gid);
        POSIX::setuid($uid);
        POSIX::_exit(-r blib_dir() . '/lib/Vassal/Packet.pm' && -r psgi_vassal() ? 0 : 1);
    }
    waitpid $pid, 0;
    return $? ? 'user nobody cannot read the build (' . blib_dir() . ')' : undef;
}

# Pids whose parent is $pid (from /proc).
sub children_of {
    my ($pid) = @_;
    my @kids;
    opendir my $dh, '/proc' or return;
    for my $p (grep /\A[0-9]+\z/, readdir $dh) {
        my $stat = slurp("/proc/$p/stat") or next;
        my ($ppid) = $stat =~ /\)\s+\S+\s+([0-9]+)/ or next;
        push @kids, $p if $ppid == $pid;
    }
    return @kids;
}

# Every pid below $pid: children, theirs, and so on.
sub descendants_of {
    my ($pid) = @_;
    my (@out, %seen);
    my @todo = ($pid);
    while (defined(my $p = shift @todo)) {
        for my $c (children_of($p)) {
            next if $seen{$c}++;
            push @out, $c;
            push @todo, $c;
        }
    }
    return @out;
}

# How many descriptors $pid has open (undef when it is gone).
sub fd_count {
    my ($pid) = @_;
    opendir my $dh, "/proc/$pid/fd" or return undef;
    return scalar grep { !/\A\.\.?\z/ } readdir $dh;
}

# Alive and not a zombie (nor dead).
sub process_alive {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    my $stat = slurp("/proc/$pid/stat");
    return 0 if $stat eq '' || $stat =~ /\)\s+[ZX]/;
    return 1;
}

sub reap_all {
    my ($timeout) = @_;
    my $deadline = time + ($timeout // 0);
    while (1) {
        my $pid = waitpid(-1, WNOHANG);
        next if $pid > 0;
        last if $pid < 0 || time >= $deadline;
        sleep 0.05;
    }
}

# Waits up to $timeout seconds for our child $pid to exit: returns its wait
# status, or undef (after killing it) when it did not.
sub exit_status {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        return $? if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return undef;
}

# Waits until none of @pids is alive (reaping our children). Returns true if so.
sub wait_gone {
    my ($timeout, @pids) = @_;
    my $deadline = time + $timeout;
    while (1) {
        1 while waitpid(-1, WNOHANG) > 0;
        my @alive = grep { process_alive($_) } @pids;
        return 1 unless @alive;
        return 0 if time >= $deadline;
        sleep 0.05;
    }
}

1;
