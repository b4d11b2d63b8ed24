# The spine end to end: the Java Emperor CLI spawns a base vassal that preloads
# hello.psgi behind a fork server, adopts three vassals from it, and on SIGTERM
# leaves nothing behind.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use Test::More;
use EmperorTest qw(root empty_port write_file wait_until http_get parent_of alive start_emperor);

my $root = root();
my $dir = tempdir('emperor-adopts-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$dir/vassals" or die $!;
write_file("$dir/vassals/base.ini", <<"INI");
[uwsgi]
early-psgi = $root/integration/apps/hello.psgi
fork-server = $dir/fork.sock
INI
my @ports = map { empty_port() } 1 .. 3;
for my $i (0 .. 2) {
    write_file("$dir/vassals/app$i.ini", "[uwsgi]\nhttp-socket = 127.0.0.1:$ports[$i]\nprocesses = 2\nmaster = true\n");
}

my $emperor = start_emperor(dir => $dir, args => [
    '--emperor', "$dir/vassals",
    '--vassal-fork-base', 'base.ini',
    '--emperor-use-fork-server', "$dir/fork.sock",
    '--binary-path', "$root/perl/bin/psgi-vassal",
    '--reload-mercy', '5',
]);

my %pid_of;
for my $port (@ports) {
    my $res = wait_until(60, sub { my $r = http_get($port); $r->{status} == 200 && $r });
    ok $res, "adopted vassal on port $port answers 200"
        or diag $emperor->log_text;
    next unless $res;
    like $res->{content}, qr/^Hello from pid (\d+)$/m, 'body comes from hello.psgi';
    ($pid_of{$port}) = $res->{content} =~ /pid (\d+)/;
}

# a vassal on the socket the Emperor holds may answer before the Emperor has
# read its pid reply and its 5: wait for that before judging the log
ok wait_until(30, sub { my @seen = $emperor->log_text =~ /app\d\.ini \(pid \d+, adopted\) -> ACCEPTING/g; @seen >= 3 }),
    'the Emperor saw all three adopted and accepting' or diag $emperor->log_text;

my @workers = sort { $a <=> $b } values %pid_of;
my %masters;
for my $w (@workers) {
    my $master = parent_of($w);    # the app runs in a worker; its parent is the vassal's master
    ok $master, "worker $w has a master";
    $masters{$master} = 1 if $master;
}
is scalar(keys %masters), 3, 'three distinct adopted vassals (masters)';
for my $m (keys %masters) {
    is parent_of($m), $emperor->pid, "vassal $m was re-parented to the Emperor (its subreaper)";
}

my $status = $emperor->stop(60);
is $status, 0, 'Emperor exits 0 on SIGTERM' or diag $emperor->log_text;
my @left = grep { alive($_) } keys %masters, @workers;
is "@left", '', 'no vassal master or worker outlives the Emperor';
ok !-e "$dir/fork.sock", 'fork-server socket removed';

my $log = $emperor->log_text;
like $log, qr/accepting/i, 'the log names vassal state changes';
done_testing;
