package EmperorTest;
# What the cross-language tests share: the Emperor CLI started on a vassal
# directory of our own, with ports and paths no parallel test can collide with,
# and torn down (Emperor, vassals, temp dir) whatever the test's outcome. The
# helpers it shares with the Perl tests come from perl/t/lib/VassalTest.pm
# (whose END also kills whatever a test leaves running below it).
use strict;
use warnings;
use Exporter 'import';
use File::Basename ();
use lib File::Basename::dirname(__FILE__) . '/../../perl/t/lib';
use VassalTest qw(write_file slurp parent_of process_alive);
use File::Temp ();
use FindBin ();
use HTTP::Tiny;
use Net::EmptyPort qw(empty_port);
use POSIX ();
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(root empty_port write_file wait_until http_get parent_of alive
                    start_emperor stop_emperor start_uwsgi_emperor slurp);

sub root { require Cwd; Cwd::abs_path("$FindBin::Bin/..") }

# Polls $cond until it returns true or $timeout seconds pass; returns its last value.
sub wait_until {
    my ($timeout, $cond) = @_;
    my $deadline = time + $timeout;
    while (1) {
        my $v = $cond->();
        return $v if $v || time > $deadline;
        sleep 0.1;
    }
}

sub http_get {
    my ($port, $path) = @_;
    return HTTP::Tiny->new(timeout => 5, keep_alive => 0)->get("http://127.0.0.1:$port" . ($path // '/'));
}

sub alive { process_alive(@_) }    # a zombie is not alive

# Starts `java -jar target/emperor.jar @args` with its log in the test's temp
# dir; returns {pid, log, dir}. The guard object stops it on scope exit.
sub start_emperor {
    my (%o) = @_;
    my $root = root();
    my $log = "$o{dir}/emperor.log";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>>', $log or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec 'java', '-jar', "$root/target/emperor.jar", @{ $o{args} } or POSIX::_exit(127);
    }
    return bless { pid => $pid, log => $log, dir => $o{dir} }, 'EmperorTest::Running';
}

# Starts Debian's uWSGI Emperor (`/usr/bin/uwsgi-core --emperor ... @args`) in a
# session of its own, its output in $log; returns a guard whose stop() (also
# run on scope exit) sends SIGINT, waits up to 30 s, then SIGKILLs the session:
# the Emperor and anything it left.
sub start_uwsgi_emperor {
    my ($log, @args) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        POSIX::setsid();
        open STDOUT, '>>', $log or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec '/usr/bin/uwsgi-core', @args or POSIX::_exit(127);
    }
    return bless { pid => $pid }, 'EmperorTest::Uwsgi';
}

sub stop_emperor {
    my ($e, $timeout) = @_;
    return $e->stop($timeout);
}

package EmperorTest::Running;
use POSIX ();
use Time::HiRes qw(sleep time);

sub pid { $_[0]{pid} }
sub log_text { EmperorTest::slurp($_[0]{log}) }

# SIGTERM, then wait; SIGKILL only if it overstays $timeout. Returns the wait status.
sub stop {
    my ($self, $timeout) = @_;
    return $self->{status} if defined $self->{status};
    kill 'TERM', $self->{pid};
    my $deadline = time + ($timeout // 30);
    while (time < $deadline) {
        my $r = waitpid $self->{pid}, POSIX::WNOHANG();
        return $self->{status} = $? if $r == $self->{pid};
        sleep 0.1;
    }
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    return $self->{status} = -1;
}

sub DESTROY { my $self = shift; local ($?, $!, $@); $self->stop(5) unless defined $self->{status} }

package EmperorTest::Uwsgi;
use POSIX ();
use Time::HiRes qw(sleep time);

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'INT', $pid;
    my $deadline = time + 30;
    while (time < $deadline) { last if waitpid($pid, POSIX::WNOHANG()) == $pid; sleep 0.1 }
    kill 'KILL', -$pid if EmperorTest::alive($pid);
    waitpid $pid, 0;
}

sub DESTROY { local ($?, $!, $@); $_[0]->stop }

1;
