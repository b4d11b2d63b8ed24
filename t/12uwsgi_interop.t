# Real peers: uWSGI 2.0 from Debian speaks the same Emperor pipe protocol (it
# has no fork server). (a) Our Java Emperor supervises real uWSGI vassals;
# (b) uWSGI's Emperor supervises psgi-vassal vassals. Either way a vassal
# reports ready/accepting/loyal, reloads when its file is touched and stops
# when it is removed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP qw(decode_json);
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use EmperorTest qw(root empty_port write_file wait_until http_get alive slurp start_emperor start_uwsgi_emperor);

my $root = root();
my $uwsgi = '/usr/bin/uwsgi-core';
ok -x $uwsgi, "Debian's uWSGI is installed ($uwsgi; the Makefile's deps install uwsgi-core)"
    or BAIL_OUT('uwsgi-core missing');
my $hello = "$root/integration/apps/hello.psgi";

sub stats {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 5) or return;
    local $/;
    my $json = <$s>;
    return eval { decode_json($json) };
}

sub vassal_stats {
    my ($port, $name) = @_;
    my $st = stats($port) or return;
    my ($v) = grep { $_->{id} eq $name } @{ $st->{vassals} || [] };
    return $v;
}

# Touch a file so its mtime moves on by a whole second at least (uWSGI
# compares seconds).
sub touch_later {
    my ($path) = @_;
    my $t = (stat $path)[9] + 2;
    utime $t, $t, $path or die "$path: $!";
}

subtest 'our Emperor supervises uWSGI vassals' => sub {
    my $dir = tempdir('uwsgi-vassals-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$dir/vassals" or die $!;
    my ($port, $sport) = (empty_port(), empty_port());
    my $ini = write_file("$dir/vassals/u1.ini", <<"INI");
[uwsgi]
plugins = psgi
psgi = $hello
http-socket = 127.0.0.1:$port
master = true
processes = 1
INI
    my $emperor = start_emperor(dir => $dir, args => [
        '--emperor', "$dir/vassals", '--binary-path', $uwsgi,
        '--emperor-stats', "127.0.0.1:$sport", '--reload-mercy', '10',
    ]);
    ok wait_until(60, sub { http_get($port)->{status} == 200 }), 'uWSGI vassal answers 200'
        or diag $emperor->log_text;
    my $v = wait_until(60, sub { my $v = vassal_stats($sport, 'u1.ini'); $v && $v->{loyal} && $v });
    ok $v, 'it reported ready, accepting and loyal' or diag $emperor->log_text;
    ok $v && $v->{ready} && $v->{accepting}, 'ready and accepting flags set';
    my $pid = $v && $v->{pid};

    my $before = length $emperor->log_text;
    touch_later($ini);
    ok wait_until(60, sub { substr($emperor->log_text, $before) =~ /u1\.ini.*reload/i }), 'touch sends a reload'
        or diag $emperor->log_text;
    ok wait_until(60, sub { substr($emperor->log_text, $before) =~ /gracefully reloading|binary reloading/i }),
        'uWSGI itself reloads' or diag substr($emperor->log_text, $before);
    ok wait_until(60, sub { http_get($port)->{status} == 200 }), 'and serves again';

    unlink $ini or die $!;
    ok wait_until(60, sub { $pid && !alive($pid) }), 'removing its file stops the vassal'
        or diag $emperor->log_text;
    is $emperor->stop(60), 0, 'Emperor stops cleanly';
};

subtest "uWSGI's Emperor supervises psgi-vassal vassals" => sub {
    my $dir = tempdir('uwsgi-emperor-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$dir/vassals" or die $!;
    my ($port, $sport) = (empty_port(), empty_port());
    my $ini = write_file("$dir/vassals/p1.ini", <<"INI");
[uwsgi]
psgi = $hello
http-socket = 127.0.0.1:$port
processes = 2
INI
    my $log = "$dir/uwsgi.log";
    my $uwsgi_emperor = start_uwsgi_emperor($log, '--emperor', "$dir/vassals",
        '--binary-path', "$root/perl/bin/psgi-vassal", '--emperor-stats', "127.0.0.1:$sport");

    ok wait_until(60, sub { http_get($port)->{status} == 200 }), 'psgi-vassal answers 200 under uWSGI'
        or diag slurp($log);
    my $v = wait_until(60, sub { my $v = vassal_stats($sport, 'p1.ini'); $v && $v->{loyal} && $v });
    ok $v, 'uWSGI saw it loyal' or diag slurp($log);
    my $vpid = $v && $v->{pid};

    my $before = length slurp($log);
    touch_later($ini);
    ok wait_until(60, sub { substr(slurp($log), $before) =~ /reload/i }), 'uWSGI sends a reload on touch'
        or diag slurp($log);
    ok wait_until(60, sub { substr(slurp($log), $before) =~ /\[p1 pid \d+\].*(reload|restart)/i }),
        'psgi-vassal acts on it' or diag substr(slurp($log), $before);
    ok wait_until(60, sub { http_get($port)->{status} == 200 }), 'and the vassal serves after it';

    unlink $ini or die $!;
    ok wait_until(60, sub { $vpid && !alive($vpid) }), 'removing its file stops the vassal' or diag slurp($log);
    $uwsgi_emperor->stop;
    ok !-e "$dir/vassals/p1.ini", 'done';
};

done_testing;
