package Vassal::Config;
use strict;
use warnings;
use Cwd ();
use File::Basename ();
use File::Spec;
use POSIX ();

our $VERSION = '0.01';

# name => { type, multi => 1 (keeps every value), default, help }. Types:
# string, int (> 0), count (>= 0), bool, mode (octal, value optional), include.
# Semantics follow uWSGI 2.1 (core/uwsgi.c, plugins/psgi) unless the help says.
# The only place a Perl-side default is written: get() falls back to it, and
# psgi-vassal --help and Plack::Handler::Vassal read it from here.
my %OPTIONS = (
    'ini'                 => { type => 'include', multi => 1, help => 'read the [uwsgi] section of an ini file (FILE, FILE:SECTION or emperor://NAME)' },
    # sockets
    'socket'              => { type => 'string', multi => 1, help => 'serve the uwsgi protocol (nginx uwsgi_pass) on host:port, a UNIX socket path or fd://N' },
    'http-socket'         => { type => 'string', multi => 1, help => 'serve HTTP/1.1 on host:port, a UNIX socket path or fd://N (an inherited listening socket)' },
    'listen'              => { type => 'int',    default => 100, help => 'listen queue (backlog) of the sockets' },
    'chmod-socket'        => { type => 'mode',   help => 'mode of the UNIX sockets (default 666 when given without a value)' },
    # processes
    'processes'           => { type => 'int',    default => 1, help => 'number of prefork workers' },
    'master'              => { type => 'bool',   help => 'accepted; a master always runs' },
    'max-requests'        => { type => 'count',  default => 0, help => 'recycle a worker after this many requests (0: never)' },
    'harakiri'            => { type => 'count',  default => 0, help => 'kill a worker whose request runs longer than this many seconds (0: never)' },
    'idle'                => { type => 'count',  default => 0, help => 'after this many seconds without a request, stop the workers until the next connection (cheap mode)' },
    'die-on-idle'         => { type => 'bool',   help => 'when idle: ask the Emperor to stop the vassal (byte 22), or exit without one' },
    'heartbeat'           => { type => 'count',  default => 0, help => 'send a heartbeat (byte 26) to the Emperor every this many seconds' },
    'procname'            => { type => 'string', help => 'process name of the master (workers get it with " (worker N)")' },
    # requests
    'socket-timeout'      => { type => 'int',    default => 4, help => 'seconds a client may stay silent (uWSGI\'s default)' },
    'header-timeout'      => { type => 'int',    help => 'seconds for the whole head of a request (HTTP request line and header fields, or uwsgi packet) to arrive, counted from the accept or, on a keep-alive connection, from its first byte; then 408 and close (default 3 x socket-timeout)' },
    'no-defer-accept'     => { type => 'bool',   help => 'do not set TCP_DEFER_ACCEPT on TCP sockets (by default a connection is accepted once its request has arrived)' },
    'buffer-size'         => { type => 'int',    default => 65536, help => 'largest request header section (HTTP) or uwsgi packet, in bytes' },
    'limit-post'          => { type => 'count',  default => 1024 ** 3, help => 'largest request body in bytes, larger gets 413 (0: no limit)' },
    'worker-connections'  => { type => 'int',    default => 1024, help => 'connections a worker keeps open at most (waiting, idle or lingering); the oldest is closed for a new one' },
    'post-buffering'      => { type => 'count',  default => 1024 ** 2, help => 'request bodies larger than this many bytes are kept in a temporary file' },
    'http-underscores-in-headers' => { type => 'bool', help => 'keep HTTP header fields whose names have an underscore (by default they are dropped, as nginx does); X_Foo never joins or replaces X-Foo: beside a field without the underscore it is dropped' },
    # the app
    'psgi'                => { type => 'string', help => 'the PSGI app to serve' },
    'early-psgi'          => { type => 'string', help => 'load this PSGI app before anything else (fork-server base)' },
    'early-perl-exec'     => { type => 'string', multi => 1, help => 'run this Perl file before anything else (fork-server base: preload modules)' },
    'perl-exec'           => { type => 'string', multi => 1, help => 'run this Perl file before the app is loaded (before fork)' },
    'perl-exec-post-fork' => { type => 'string', multi => 1, help => 'run this Perl file in every worker after fork' },
    'perl-local-lib'      => { type => 'string', help => 'add this local::lib directory (DIR/lib/perl5) to @INC' },
    'need-app'            => { type => 'bool',   default => 1, help => 'exit (status 22) when no app can be loaded' },
    'plugins'             => { type => 'plugins', multi => 1, help => 'accepted for uWSGI configs: only the psgi plugin (built in)' },
    # environment
    'chdir'               => { type => 'string', help => 'chdir to this directory before loading anything' },
    'env'                 => { type => 'string', multi => 1, help => 'set an environment variable (NAME=VALUE)' },
    # fork server
    'fork-server'         => { type => 'string', help => 'run a fork server on this UNIX socket path' },
    'fork-server-allow-uid' => { type => 'string', multi => 1, help => 'a uid (or user name) the fork server accepts requests from, besides its own and root' },
    'fork-server-hugepages' => { type => 'bool', default => 1, help => 'collapse the preloaded heap into huge pages before serving, so each adoption forks in ~1 ms instead of ~11 ms per 260 MB' },
);
my %ALIASES = (workers => 'processes', plugin => 'plugins');

my $MAX_INCLUDE_DEPTH = 10;

sub options { sort keys %OPTIONS }
sub aliases { %ALIASES }
sub option_help { $OPTIONS{ $_[1] } && $OPTIONS{ $_[1] }{help} }

# The value an option has when it is not set (undef: none, or one derived
# elsewhere, as header-timeout's).
sub default {
    my ($class, $key) = @_;
    my $name = $class->canonical($key) or die "unknown option '$key'\n";
    return $OPTIONS{$name}{default};
}

my %PLACEHOLDER = (string => 'VALUE', int => 'N', count => 'N', bool => '[BOOL]',
                   mode => '[MODE]', include => 'FILE', plugins => 'NAME');

# Every option, one paragraph each: its flags (aliases too), what it does,
# its default and whether it repeats. psgi-vassal --help prints this.
sub help_text {
    my ($class, $width) = @_;
    $width //= 78;
    my %alias_of;
    push @{ $alias_of{ $ALIASES{$_} } }, $_ for sort keys %ALIASES;
    my $out = '';
    for my $name (sort keys %OPTIONS) {
        my $o = $OPTIONS{$name};
        my $flags = join ', ', map { "--$_ $PLACEHOLDER{ $o->{type} }" } $name, @{ $alias_of{$name} || [] };
        my $text = $o->{help};
        $text .= ' (default ' . _show_default($o) . ')' if defined $o->{default};
        $text .= ' (repeatable)' if $o->{multi};
        $out .= "  $flags\n" . _wrap($text, '      ', $width);
    }
    return $out;
}

sub _show_default {
    my ($o) = @_;
    return $o->{type} eq 'bool' ? ($o->{default} ? 'true' : 'false') : $o->{default};
}

sub _wrap {
    my ($text, $indent, $width) = @_;
    my ($out, $line) = ('', $indent);
    for my $word (split ' ', $text) {
        if (length($line) + length($word) + 1 > $width && $line ne $indent) {
            $out .= "$line\n";
            $line = $indent;
        }
        $line .= ($line eq $indent ? '' : ' ') . $word;
    }
    return "$out$line\n";
}

sub new {
    my ($class, %args) = @_;
    return bless { values => {}, order => [], name => undef, file => undef, depth => 0, %args }, $class;
}

# Convenience: Vassal::Config->from_argv(\@args)
sub from_argv {
    my ($class, $args) = @_;
    my $self = $class->new;
    $self->parse_argv($args);
    return $self;
}

sub canonical {
    my ($self, $key) = @_;
    $key = $ALIASES{$key} if exists $ALIASES{$key};
    return exists $OPTIONS{$key} ? $key : undef;
}

sub parse_argv {
    my ($self, $args) = @_;
    my @args = @$args;
    while (@args) {
        my $arg = shift @args;
        my ($key, $value);
        if ($arg =~ /\A--([^=]+)=(.*)\z/s) {
            ($key, $value) = ($1, $2);
        }
        elsif ($arg =~ /\A--(.+)\z/s) {
            $key = $1;
        }
        else {
            die "unexpected argument '$arg' (options are --key value or --key=value)\n";
        }
        my $name = $self->canonical($key)
            or die "unknown option '--$key'\n";
        if (!defined $value) {
            my $type = $OPTIONS{$name}{type};
            if (($type eq 'bool' || $type eq 'mode') && (!@args || $args[0] =~ /\A--/)) {
                $value = $type eq 'bool' ? 1 : '';
            }
            elsif (!@args) {
                die "option '--$key' needs a value\n";
            }
            else {
                $value = shift @args;
            }
        }
        $self->set($name, $value, "--$key");
    }
    return $self;
}

# Sets (or, for an include, loads) one option; $source names where it came from.
sub set {
    my ($self, $key, $value, $source) = @_;
    my $name = $self->canonical($key)
        or die "unknown option '$key'" . ($source ? " ($source)" : '') . "\n";
    my $spec = $OPTIONS{$name};
    my $where = $source ? " ($source)" : '';
    if ($spec->{type} eq 'int') {
        die "option '$key' must be a positive integer, not '$value'$where\n"
            unless $value =~ /\A\s*[0-9]+\s*\z/ && $value > 0;
        $value = 0 + $value;
    }
    elsif ($spec->{type} eq 'count') {
        die "option '$key' must be a non-negative integer, not '$value'$where\n"
            unless $value =~ /\A\s*[0-9]+\s*\z/;
        $value = 0 + $value;
    }
    elsif ($spec->{type} eq 'mode') {
        $value = '666' if $value eq '' || $value eq '1';    # uWSGI: chmod-socket without a value
        die "option '$key' must be an octal mode like 660, not '$value'$where\n"
            unless $value =~ /\A[0-7]{3,4}\z/;
    }
    elsif ($spec->{type} eq 'plugins') {
        for my $p (grep length, split /[\s,]+/, $value) {
            die "option '$key': plugin '$p' is not available (only psgi is built in)$where\n"
                unless $p =~ /\A(?:psgi|perl|psgi_plugin)\z/;
        }
    }
    elsif ($spec->{type} eq 'bool') {
        if    ($value =~ /\A(?:1|true|yes|on)\z/i)      { $value = 1 }
        elsif ($value =~ /\A(?:0|false|no|off|)\z/i)    { $value = 0 }
        else { die "option '$key' must be true or false, not '$value'$where\n" }
    }
    elsif ($spec->{type} eq 'include') {
        push @{ $self->{values}{$name} }, $value;
        push @{ $self->{order} }, [$name, $value];
        return $self->load_ini($value);
    }
    if ($spec->{multi}) {
        push @{ $self->{values}{$name} }, $value;
    }
    else {
        $self->{values}{$name} = [$value];
    }
    push @{ $self->{order} }, [$name, $value];
    return $self;
}

# The last value set, else the option's default.
sub get {
    my ($self, $key) = @_;
    my $name = $self->canonical($key) or die "unknown option '$key'\n";
    my $v = $self->{values}{$name} or return $OPTIONS{$name}{default};
    return $v->[-1];
}

sub get_all {
    my ($self, $key) = @_;
    my $name = $self->canonical($key) or die "unknown option '$key'\n";
    return @{ $self->{values}{$name} || [] };
}

sub is_set {
    my ($self, $key) = @_;
    my $name = $self->canonical($key) or die "unknown option '$key'\n";
    return exists $self->{values}{$name};
}

# The vassal's name: the first config file's name without extension.
sub name { $_[0]{name} }
sub file { $_[0]{file} }

# Every option set, in order, as [name, value] pairs.
sub pairs { @{ $_[0]{order} } }

sub load_ini {
    my ($self, $spec) = @_;
    local $self->{depth} = $self->{depth} + 1;
    die "ini files nested more than $MAX_INCLUDE_DEPTH deep at '$spec'\n"
        if $self->{depth} > $MAX_INCLUDE_DEPTH;

    my ($text, $path, $section, $name);
    if ($spec =~ m{\Aemperor://(.+)\z}s) {
        $name = $1;
        $text = $self->_read_config_pipe($name);
        $path = File::Spec->catfile(Cwd::getcwd(), $name);
    }
    else {
        $path = $spec;
        $section = 'uwsgi';
        if (!-e $path && $path =~ /\A(.+):([^:\/]+)\z/s && -e $1) {
            ($path, $section) = ($1, $2);
        }
        open my $fh, '<', $path or die "cannot read ini file '$path': $!\n";
        local $/;
        $text = <$fh>;
        close $fh;
    }
    $section //= 'uwsgi';
    $self->{file} //= $path;
    if (!defined $self->{name}) {
        my $base = File::Basename::basename($path);
        $base =~ s/\.[^.]*\z//;
        $self->{name} = $base;
    }
    return $self->parse_ini_string($text, $path, $section);
}

# Parses the given section of ini text; magic variables refer to $path.
sub parse_ini_string {
    my ($self, $text, $path, $section) = @_;
    $section //= 'uwsgi';
    my $magic = _magic_for($path);
    my $current = '';
    my $lineno = 0;
    for my $line (split /\r?\n/, $text) {
        $lineno++;
        $line =~ s/\A\s+//;
        $line =~ s/\s+\z//;
        next if $line eq '' || $line =~ /\A[#;]/;
        if ($line =~ /\A\[\s*([^\]]*?)\s*\]\z/) {
            $current = $1;
            next;
        }
        next unless $current eq $section;
        my ($key, $value) = $line =~ /\A([^=]+?)\s*=\s*(.*)\z/s
            or die "$path line $lineno: expected 'key = value', got '$line'\n";
        $value = _expand($value, $magic);
        $self->set($key, $value, "$path line $lineno");
    }
    return $self;
}

sub _magic_for {
    my ($path) = @_;
    my $abs = File::Spec->rel2abs($path);
    my $dir = File::Basename::dirname($abs);
    $dir = Cwd::abs_path($dir) // $dir;
    my $file = File::Basename::basename($abs);
    my ($n, $e) = $file =~ /\A(.*?)(?:\.([^.]*))?\z/s;
    $n = $file if $n eq '';
    return {
        d => ($dir =~ m{/\z} ? $dir : "$dir/"),
        n => $n,
        e => $e // '',
        s => $file,
        p => File::Spec->catfile($dir, $file),
        c => File::Basename::basename($dir),
        '%' => '%',
    };
}

sub _expand {
    my ($value, $magic) = @_;
    $value =~ s{\$\(([^)]*)\)|%(.)}{
        defined $1 ? ($ENV{$1} // '')
                   : exists $magic->{$2} ? $magic->{$2} : "%$2"
    }ge;
    return $value;
}

sub _read_config_pipe {
    my ($self, $name) = @_;
    my $fd = $ENV{UWSGI_EMPEROR_FD_CONFIG};
    die "--ini emperor://$name: no config pipe (UWSGI_EMPEROR_FD_CONFIG is not set)\n"
        unless defined $fd && $fd =~ /\A[0-9]+\z/;
    require Vassal::XS;
    my $req = eval { Vassal::XS::recv_request($fd, 10) };
    if (my $e = $@) { $e =~ s/ at \S+ line \d+\.?\n?\z//; die "--ini emperor://$name: reading the config pipe: $e\n" }
    POSIX::close($_) for @{ $req->{fds} };
    die "--ini emperor://$name: config packet has modifier1 $req->{modifier1}, expected 115\n"
        unless $req->{modifier1} == 115;
    return $req->{body};
}

1;
__END__

=head1 NAME

Vassal::Config - psgi-vassal options from the command line and uWSGI-style ini files

=head1 SYNOPSIS

  use Vassal::Config;
  use File::Temp qw(tempdir);

  my $dir = tempdir(CLEANUP => 1);
  open my $fh, '>', "$dir/app1.ini" or die $!;
  print $fh "[uwsgi]\npsgi = %dapp.psgi\nhttp-socket = 127.0.0.1:\$(PORT)\nworkers = 2\n";
  close $fh;

  local $ENV{PORT} = 8081;
  my $config = Vassal::Config->from_argv(['--ini', "$dir/app1.ini", '--master']);
  print $config->name, "\n";              # app1
  print $config->get('psgi'), "\n";       # /tmp/.../app.psgi
  print $config->get('http-socket'), "\n";# 127.0.0.1:8081
  print $config->get('processes'), "\n";  # 2

=head1 DESCRIPTION

Options are given as C<--key value> or C<--key=value> on the command line, or
as C<key = value> lines in the C<[uwsgi]> section of an ini file loaded with
C<--ini FILE> (C<FILE:SECTION> picks another section; C<emperor://NAME> reads
the config packet from the Emperor's config pipe, C<UWSGI_EMPEROR_FD_CONFIG>).
Options are applied in order; an ini file's lines are applied where its
C<--ini> stands. An unknown option, a missing value or an invalid value dies
with a message naming it (and the file and line).

Known options (see L<psgi-vassal> for what each does): C<ini>, C<socket>,
C<http-socket>, C<listen>, C<chmod-socket>, C<processes> (alias
C<workers>), C<master>, C<max-requests>, C<harakiri>, C<idle>,
C<die-on-idle>, C<heartbeat>, C<procname>, C<socket-timeout>,
C<buffer-size>, C<limit-post>, C<post-buffering>, C<psgi>, C<early-psgi>,
C<early-perl-exec>, C<perl-exec>, C<perl-exec-post-fork>,
C<perl-local-lib>, C<need-app>, C<plugins> (alias C<plugin>: only C<psgi>,
for uWSGI configs that name it), C<chdir>, C<env>, C<fork-server>,
C<fork-server-allow-uid>. The repeatable ones (C<ini>, C<socket>,
C<http-socket>, C<early-perl-exec>, C<perl-exec>, C<perl-exec-post-fork>,
C<env>, C<fork-server-allow-uid>, C<plugins>) keep every value in order; for
the others the last value wins. Types: positive integers (C<processes>,
C<listen>, C<socket-timeout>, C<buffer-size>), non-negative integers (0
disables: C<max-requests>, C<harakiri>, C<idle>, C<heartbeat>,
C<limit-post>, C<post-buffering>), booleans (C<true>/C<false>, C<yes>/C<no>,
C<on>/C<off>, C<1>/C<0>; on the command line a boolean without a value is
true), an octal mode (C<chmod-socket>, 666 without a value).

Ini magic, as in uWSGI: C<%d> the config file's absolute directory with a
trailing slash, C<%n> its name without extension, C<%s> its file name, C<%e>
its extension, C<%p> its absolute path, C<%c> its directory's name, C<%%> a
percent sign; C<$(VAR)> the environment variable VAR (empty when unset).

=head1 METHODS

=over 4

=item new, from_argv(\@args), parse_argv(\@args)

=item load_ini($spec), parse_ini_string($text, $path, $section)

=item set($key, $value, $source)

=item get($key) - the last value, else the option's default; get_all($key) - every value in order; is_set($key) - whether it was set

=item default($key) - the option's default (undef when it has none): the one table of defaults

=item help_text($width) - every option with its flags, help, default, for C<psgi-vassal --help>

=item name - the first config file's name without extension (undef without one)

=item file - the first config file's path

=item pairs - every option set, in order, as C<[name, value]>

=item options - the known option names; aliases

=back

=cut
