package HostileTest;
# Helpers for the hostile-input tests (t/4*.t): run bin/psgi-vassal from the
# Perl build (perl/blib), play the Emperor, talk raw bytes, and clean every
# process, socket and temp dir up - also when a test dies half way.
use strict;
use warnings;
use Cwd ();
use File::Temp ();
use FindBin;
use POSIX qw(WNOHANG);
use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC);
use Time::HiRes qw(sleep time);
use Test::More ();

my $ROOT;
BEGIN {
    $ROOT = Cwd::abs_path("$FindBin::Bin/..");
    unshift @INC, "$ROOT/perl/blib/lib", "$ROOT/perl/blib/arch";
}
use Net::EmptyPort qw(empty_port wait_port);
use Vassal::XS ();
use Vassal::Packet ();

use Exporter 'import';
our @EXPORT = qw(
    repo_root psgi_vassal vectors_dir app_path tempdir write_file slurp
    emperor_pair spawn read_bytes no_byte_within wait_for_log
    children_of descendants_of parent_of process_alive wait_gone fd_count
    fork_request unix_connect empty_port wait_port http_raw
);

sub repo_root   { $ROOT }
sub psgi_vassal { "$ROOT/perl/bin/psgi-vassal" }
sub vectors_dir { $ENV{VASSAL_SHARED_VECTORS} // Cwd::abs_path("$FindBin::Bin/../../shared/vectors") // "$FindBin::Bin/../../shared/vectors" }
sub app_path    { Cwd::abs_path("$FindBin::Bin/apps/$_[0]") }
sub tempdir     { File::Temp::tempdir('hostile-test-XXXXXX', TMPDIR => 1, CLEANUP => 1) }

sub write_file {
    my ($path, $content) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $content;
    close $fh or die "$path: $!";
    return $path;
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return '';
    local $/;
    return scalar(<$fh>) // '';
}

sub emperor_pair {
    socketpair(my $e, my $v, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
    return ($e, $v);
}

my @SPAWNED;
my $OWNER = $$;
$SIG{PIPE} = 'IGNORE';
$SIG{$_} = sub { die "killed by SIG$_[0]\n" } for qw(INT TERM HUP);

# spawn(cmd => [...], emperor => $fh, stderr => $file, env => {...}, keep => [$fh...])
# Runs cmd in its own process group; returns its pid. $fh's (and keep's)
# descriptors are inherited; UWSGI_EMPEROR_FD names the emperor one.
sub spawn {
    my (%a) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);
        $SIG{$_} = 'DEFAULT' for qw(PIPE INT TERM HUP);
        for my $fh (grep defined, $a{emperor}, @{ $a{keep} || [] }) {
            my $flags = fcntl($fh, POSIX::F_GETFD(), 0);
            fcntl($fh, POSIX::F_SETFD(), $flags & ~POSIX::FD_CLOEXEC());
        }
        delete @ENV{qw(UWSGI_EMPEROR_FD UWSGI_EMPEROR_FD_CONFIG)};
        $ENV{UWSGI_EMPEROR_FD} = fileno $a{emperor} if $a{emperor};
        %ENV = (%ENV, %{ $a{env} || {} });
        if ($a{stderr}) { open STDERR, '>>', $a{stderr} or POSIX::_exit(127) }
        open STDIN, '<', '/dev/null';
        { no warnings 'exec'; exec @{ $a{cmd} }; }
        POSIX::_exit(127);
    }
    push @SPAWNED, $pid;
    return $pid;
}

END {
    local $?;
    if ($$ == $OWNER) {
        # everything we started, and everything below us (adopted vassals
        # re-parent to us when we are a subreaper)
        my @all = (descendants_of($$), map { descendants_of($_) } @SPAWNED);
        kill 'KILL', -$_ for @SPAWNED;
        kill 'KILL', @all if @all;
        my $deadline = time + 3;
        while (time < $deadline) {
            my $r = waitpid(-1, WNOHANG);
            last if $r < 0;
            sleep 0.02 if $r == 0;
        }
    }
}

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

sub no_byte_within {
    my ($fh, $secs) = @_;
    my $rin = '';
    vec($rin, fileno $fh, 1) = 1;
    return select(my $rout = $rin, undef, undef, $secs) == 0;
}

sub wait_for_log {
    my ($file, $re, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        return 1 if slurp($file) =~ $re;
        sleep 0.05;
    }
    return slurp($file) =~ $re;
}

sub _ppid_of_stat { ($_[0] =~ /\)\s+\S+\s+([0-9]+)/)[0] }

sub parent_of { _ppid_of_stat(slurp("/proc/$_[0]/stat")) }

sub children_of {
    my ($pid) = @_;
    my @kids;
    opendir my $dh, '/proc' or return;
    for my $p (grep /\A[0-9]+\z/, readdir $dh) {
        my $ppid = _ppid_of_stat(slurp("/proc/$p/stat")) // next;
        push @kids, $p if $ppid == $pid;
    }
    return @kids;
}

sub descendants_of {
    my ($pid) = @_;
    my @out;
    my @todo = ($pid);
    my %seen;
    while (defined(my $p = shift @todo)) {
        for my $c (children_of($p)) {
            next if $seen{$c}++;
            push @out, $c;
            push @todo, $c;
        }
    }
    return @out;
}

sub process_alive {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    my $stat = slurp("/proc/$pid/stat");
    return 0 if $stat eq '' || $stat =~ /\)\s+[ZX]/;
    return 1;
}

sub wait_gone {
    my ($timeout, @pids) = @_;
    my $deadline = time + $timeout;
    while (1) {
        1 while waitpid(-1, WNOHANG) > 0;
        return 1 unless grep { process_alive($_) } @pids;
        return 0 if time >= $deadline;
        sleep 0.05;
    }
}

sub fd_count {
    my ($pid) = @_;
    opendir my $dh, "/proc/$pid/fd" or return undef;
    return scalar grep { !/\A\.\.?\z/ } readdir $dh;
}

sub unix_connect {
    my ($path) = @_;
    require IO::Socket::UNIX;
    return IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path);
}

# Plays the Emperor: one request to the fork server at $path with the
# descriptors @$fds. Returns (pid, undef) or (undef, reason).
sub fork_request {
    my ($path, $mask, $argv, $fds, %opt) = @_;
    my $conn = unix_connect($path) or return (undef, "connect $path: $!");
    my $bytes = $opt{raw} // Vassal::Packet::encode_fork_request($mask, @$argv);
    if (@$fds) { Vassal::XS::send_fds(fileno $conn, $bytes, $fds) }
    else       { syswrite $conn, $bytes }
    my $reply = eval { Vassal::XS::recv_request(fileno $conn, $opt{timeout} // 15) };
    return (undef, $@) unless $reply;
    my %d = Vassal::Packet::decode_dict($reply->{body});
    return ($d{pid}, $reply->{modifier1} == 35 ? undef : "modifier1 $reply->{modifier1}");
}

# Sends $request to 127.0.0.1:$port and reads until EOF, $opt{until} or the timeout.
sub http_raw {
    my ($port, $request, %opt) = @_;
    require IO::Socket::INET;
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
    my $deadline = time + ($opt{timeout} // 10);
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

1;
