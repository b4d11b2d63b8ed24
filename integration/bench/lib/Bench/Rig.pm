package Bench::Rig;
# What every measurement of integration/bench/run shares: the run's settings
# (one hash, filled by run from its options), its temp dir, the Emperor
# under test (its flags, and what it can do, probed live) and small waits on
# an Emperor's log and stats.
use strict;
use warnings;
use Exporter 'import';
use File::Path qw(make_path);
use JSON::PP ();
use POSIX ();
use Socket ();
use Time::HiRes ();
use BenchKit qw(progress free_ports listening_unix_under start_emperor stop_emperor wait_for wait_http_200 write_file);

our @EXPORT_OK = qw(wait_log wait_up wait_base_ready emperor_stats);

# Settings: quick, out (data and logs), tmp (removed by run at exit), jar
# (the private copy), vassal, heavy/hello/dancer (the apps), throughput (the
# script), mercy, phase {name => 1}, features (detect_features), and each
# measurement's counts (requests, ondemand, idle, idle_seconds, deploy_*).
sub new {
    my ($class, %settings) = @_;
    return bless { %settings, work_seq => 0 }, $class;
}

sub emperor_args {
    my ($c, %a) = @_;
    return ('--emperor', $a{dir}, ($a{stats} && $c->{features}{stats} ? ('--emperor-stats', $a{stats}) : ()),
            ($a{fork_socket} ? ('--vassal-fork-base', 'base.ini', '--emperor-use-fork-server', $a{fork_socket}) : ()),
            '--binary-path', $c->{vassal}, '--reload-mercy', $c->{mercy}, @{ $a{extra} || [] });
}

# A fresh work dir under the temp dir (which run removes at exit).
sub workdir {
    my ($c, $name) = @_;
    my $d = sprintf '%s/%02d-%s', $c->{tmp}, ++$c->{work_seq}, $name;
    make_path("$d/vassals", "$d/staging");
    return $d;
}

sub wait_log {
    my ($e, $re, $timeout) = @_;
    return wait_for($timeout, 0.05, sub {
        die "the Emperor exited early (see $e->{log})\n" if waitpid($e->{pid}, POSIX::WNOHANG()) == $e->{pid};
        BenchKit::log_text($e) =~ $re;
    });
}

# Up: its log says a monitor (or the Emperor) "started" (the first scan of its
# directory is done). Then callers give it 1 s more before dropping files.
sub wait_up {
    my ($e) = @_;
    wait_log($e, qr/\bstarted\b/, 30) or die "the Emperor's log said nothing 'started' within 30 s (see $e->{log})\n";
}

# The base vassal has loaded its app and serves its fork server: its socket
# listens and the Emperor logged the base READY. (The listening socket alone
# says nothing: the Emperor binds and holds it before the base starts.)
sub wait_base_ready {
    my ($e, $fork_socket, $timeout) = @_;
    wait_log($e, qr/vassal base\.ini \(pid \d+, spawned\) -> READY/, $timeout)
        && wait_for(5, 0.05, sub { listening_unix_under($fork_socket) })
        or die "the base vassal was not ready, its fork server listening, within $timeout s (see $e->{log})\n";
}

# The Emperor's stats (PROTOCOL.md section 7), decoded, or undef.
sub emperor_stats {
    my ($path) = @_;
    return undef unless $path && -S $path;
    socket(my $fh, Socket::PF_UNIX(), Socket::SOCK_STREAM(), 0) or return undef;
    connect($fh, Socket::pack_sockaddr_un($path)) or return undef;
    my $json = do { local $/; <$fh> };
    close $fh;
    return eval { JSON::PP->new->decode($json) };
}

# What the Emperor can do: flags from --help, and (when the spawn phase runs)
# a live probe of its directory monitor: a file dropped into a running Emperor.
sub detect_features {
    my ($c) = @_;
    my %f;
    my $help = `java -jar '$c->{jar}' --help 2>&1`;
    $f{help_ok} = $? == 0 ? 1 : 0;
    die "bench: 'java -jar $c->{jar} --help' failed:\n$help" unless $f{help_ok};
    $f{ondemand} = $help =~ /--emperor-on-demand-extension/ ? 1 : 0;
    $f{stats} = $help =~ /--emperor-stats/ ? 1 : 0;
    $f{fork_server_attr} = $help =~ /--emperor-fork-server-attr/ ? 1 : 0;

    # The directory monitor, live: one hello.psgi vassal dropped into a running Emperor.
    return \%f unless $c->{phase}{spawn};
    progress('probe: does the Emperor pick up a file dropped into its directory?');
    my $d = $c->workdir('probe');
    my ($port) = free_ports(1);
    write_file("$d/staging/probe.ini", "[uwsgi]\npsgi = $c->{hello}\nhttp-socket = 127.0.0.1:$port\nprocesses = 1\n");
    my $e = start_emperor(jar => $c->{jar}, log => "$c->{out}/logs/probe-monitor.log", mercy => $c->{mercy},
                          args => [$c->emperor_args(dir => "$d/vassals")]);
    my $ok = eval {
        wait_up($e);
        Time::HiRes::sleep(0.5);
        rename "$d/staging/probe.ini", "$d/vassals/probe.ini" or die "rename: $!\n";
        my $got = wait_http_200(ports => [$port], interval => 0.01, timeout => 20);
        $got->{$port} ? 1 : 0;
    };
    my $err = $@;
    stop_emperor($e);
    $f{monitor} = $ok ? 1 : 0;
    $f{monitor_reason} = $ok ? '' : $err ? "probe failed: $err"
        : 'the Emperor does not pick up vassal files added to its directory after start (directory monitor, issue 4)';
    chomp $f{monitor_reason};
    progress('probe: directory monitor ', $ok ? 'present' : "ABSENT ($f{monitor_reason})",
             '; on-demand ', $f{ondemand} ? 'present' : 'absent');
    return \%f;
}

1;
